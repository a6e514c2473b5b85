"""Judge prompt templates: selection by name, override by path, errors that name the problem,
and safe substitution of user content (braces included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from judgelab.errors import ConfigError
from judgelab.judges.parsing.pairwise import parse_pairwise
from judgelab.judges.parsing.pointwise import parse_pointwise
from judgelab.judges.templates import available_templates, load_template
from judgelab.judges.types import PairwiseItem, PointwiseItem

POINT = PointwiseItem(id="p1", prompt="Write a haiku about rain.", response="Rain taps the window.")
PAIR = PairwiseItem(id="q1", prompt="Write a haiku about rain.", response_a="Rain taps.", response_b="Wet.")


def test_shipped_templates_listed_and_loadable() -> None:
    names = available_templates()
    for expected in ("pointwise_direct", "pointwise_reasoning", "pairwise_direct", "pairwise_reasoning",
                     "pointwise_cot", "pairwise_cot", "pairwise_arena", "pairwise_arena_reasoning"):
        assert expected in names
    assert all(n.startswith("pairwise_") for n in available_templates("pairwise"))
    for name in names:
        mode = "pointwise" if name.startswith("pointwise") else "pairwise"
        item = POINT if mode == "pointwise" else PAIR
        msgs = load_template(name, mode, "direct").render(item, (1, 10), True)
        assert [m["role"] for m in msgs] == ["system", "user"]
        assert item.prompt in msgs[-1]["content"]
        assert "{" not in msgs[-1]["content"]  # every placeholder was filled


def test_default_selection_by_mode_and_style() -> None:
    assert load_template(None, "pointwise", "direct").name == "pointwise_direct"
    assert load_template(None, "pairwise", "reasoning").name == "pairwise_reasoning"
    # an explicit name wins over the style
    assert load_template("pairwise_arena", "pairwise", "reasoning").name == "pairwise_arena"


def test_rendered_content() -> None:
    user = load_template(None, "pairwise", "direct").render(PAIR, (1, 10), True)[-1]["content"]
    assert "Rain taps." in user and "Wet." in user and "[[C]]" in user
    no_tie = load_template(None, "pairwise", "direct").render(PAIR, (1, 10), False)[-1]["content"]
    assert "[[C]]" not in no_tie and "[[A]]" in no_tie
    point = load_template(None, "pointwise", "direct").render(POINT, (1, 5), True)[-1]["content"]
    assert "from 1 to 5" in point and "Score: N" in point
    reasoning = load_template(None, "pointwise", "reasoning").render(POINT, (1, 10), True)[-1]["content"]
    assert "<think>" in reasoning and "</think>" in reasoning


def test_echoed_instructions_do_not_parse_as_verdicts() -> None:
    # a small model that just repeats the last line must not be read as a verdict
    for name in available_templates("pairwise"):
        last = load_template(name, "pairwise", "direct").render(PAIR, (1, 10), True)[-1]["content"].splitlines()[-1]
        assert not parse_pairwise(last).parsed, (name, last)
    for name in available_templates("pointwise"):
        last = load_template(name, "pointwise", "direct").render(POINT, (1, 10), True)[-1]["content"]
        assert not parse_pointwise(last.split("[Response]")[-1].split(POINT.response)[-1], (1, 10)).parsed, name


def test_override_by_path(tmp_path: Path) -> None:
    f = tmp_path / "mine.txt"
    f.write_text("[system]\nBe terse.\n[user]\nRate {response} for {prompt} ({scale_min}-{scale_max}) {{json}}\n")
    t = load_template(str(f), "pointwise", "direct")
    msgs = t.render(POINT, (1, 7), True)
    assert msgs[0] == {"role": "system", "content": "Be terse."}
    assert msgs[1]["content"] == f"Rate {POINT.response} for {POINT.prompt} (1-7) {{json}}"
    # edits to a file take effect on the next load (files are not cached)
    f.write_text("[user]\nNow {response}\n")
    assert load_template(str(f), "pointwise", "direct").render(POINT)[0]["content"] == f"Now {POINT.response}"


def test_unknown_name_names_it() -> None:
    with pytest.raises(ConfigError, match="unknown template 'nope'") as e:
        load_template("nope", "pointwise", "direct")
    assert "pointwise_direct" in str(e.value)  # the hint lists what exists


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as e:
        load_template(str(tmp_path / "gone.txt"), "pointwise", "direct")
    assert "gone.txt" in str(e.value)


@pytest.mark.parametrize(
    "body,mode,match",
    [
        ("[user]\n{response} {bogus}\n", "pointwise", r"unknown placeholder \{bogus\}"),
        ("[user]\n{response.__class__}\n", "pointwise", r"unknown placeholder"),
        ("[user]\n{response} {\n", "pointwise", "malformed template"),
        ("[user]\n{response} }\n", "pointwise", "malformed template"),
        ("no sections\n", "pointwise", r"no \[user\] section"),
        ("[user]\n{response_a} {response_b}\n", "pointwise", r"\{response_a\} does not belong in a pointwise"),
        ("[user]\n{response}\n", "pairwise", r"\{response\} does not belong in a pairwise"),
        ("[user]\n{prompt} {response_a}\n", "pairwise", r"lacks placeholder \{response_b\}"),
    ],
)
def test_bad_templates_raise_config_error_naming_the_file(tmp_path: Path, body: str, mode: str, match: str) -> None:
    f = tmp_path / "bad.txt"
    f.write_text(body)
    with pytest.raises(ConfigError, match=match) as e:
        load_template(str(f), mode, "direct")  # type: ignore[arg-type]
    assert e.value.where == str(f)


def test_wrong_mode_shipped_name() -> None:
    with pytest.raises(ConfigError, match="pointwise_direct"):
        load_template("pointwise_direct", "pairwise", "direct")


def test_braces_in_user_content_are_safe() -> None:
    nasty = "{prompt} {response_a} {0} {__class__} {{x}} { } }{"
    item = PairwiseItem(id="x", prompt=nasty, response_a="{response_b}", response_b="f'{1+1}'")
    user = load_template(None, "pairwise", "direct").render(item, (1, 10), True)[-1]["content"]
    assert nasty in user and "{response_b}" in user and "f'{1+1}'" in user
    p = PointwiseItem(id="y", prompt="{scale_max}", response="%s %(x)s {response}")
    user = load_template(None, "pointwise", "direct").render(p, (1, 10), True)[-1]["content"]
    assert "[Request]\n{scale_max}" in user and "%s %(x)s {response}" in user


def test_template_text_is_stable_cache_key() -> None:
    a = load_template(None, "pointwise", "direct")
    b = load_template("pointwise_direct", "pointwise", "reasoning")
    assert a.text == b.text
    assert a.text != load_template(None, "pointwise", "reasoning").text
