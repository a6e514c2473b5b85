"""``judgelab audit --compare``: audit cards side by side (table and figure), the study's comparison
for any set of judges. Reads the card files; writes the page and its figure.
"""

from __future__ import annotations

from pathlib import Path

from judgelab.audit.card import AuditCard
from judgelab.errors import ConfigError


def labels_for(cards: list[AuditCard], paths: list[Path]) -> list[str]:
    """Each card's judge name, with its folder added where two cards share a name."""
    names = [c.judge for c in cards]
    return [n if names.count(n) == 1 else f"{n} ({p.parent})" for n, p in zip(names, paths)]


def compare_cards(paths: list[str | Path], out: Path) -> Path:
    from judgelab.audit.html import render_compare
    from judgelab.data.rundir import writable_dir

    if len(paths) < 2:
        raise ConfigError(f"--compare needs at least two cards (got {len(paths)})", where="--compare",
                          hint="pass two or more audit/<judge>/card.json files")
    files = [Path(p) for p in paths]
    cards = [AuditCard.read(p) for p in files]
    writable_dir(out.parent, "--output")
    return render_compare(cards, labels_for(cards, files), out)
