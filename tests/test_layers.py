"""The layering of docs/architecture.md, checked on the source: a layer imports only from the
layers above it (text layer -> data -> judges -> stages -> interface); nothing imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "judgelab"

# layer of a module (by its path under judgelab/), and what each layer must not import
LAYERS = {"lm": 0, "data": 1, "judges": 2}
FORBIDDEN = {
    0: ("judgelab.judges", "judgelab.data", "judgelab.train", "judgelab.evaluate", "judgelab.annotate",
        "judgelab.sample", "judgelab.pipeline", "judgelab.report", "judgelab.serve", "judgelab.cli", "judgelab.integrations"),
    1: ("judgelab.judges", "judgelab.train", "judgelab.evaluate", "judgelab.annotate", "judgelab.sample",
        "judgelab.pipeline", "judgelab.report", "judgelab.serve", "judgelab.cli", "judgelab.integrations"),
    2: ("judgelab.train", "judgelab.evaluate", "judgelab.annotate", "judgelab.sample", "judgelab.pipeline",
        "judgelab.report", "judgelab.serve", "judgelab.cli", "judgelab.integrations"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return out


def test_layers_import_only_upwards() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        top = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for lineno, mod in _imports(path):
            if mod.startswith("judgelab.cli") and top != "cli":
                bad.append(f"{rel}:{lineno} imports {mod} (nothing imports the CLI)")
            layer = LAYERS.get(top)
            if layer is not None and any(mod == f or mod.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{rel}:{lineno} ({top}) imports {mod}")
    assert not bad, "\n".join(bad)


def test_the_layer_rule_catches_a_violation(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("from judgelab.train.policy import train_policy\nimport judgelab.cli\n")
    mods = [m for _, m in _imports(f)]
    assert any(m.startswith(FORBIDDEN[2][0]) for m in mods) and "judgelab.cli" in mods
