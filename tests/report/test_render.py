"""The report's one set of number and CI formatters: missing values, stray types and unbounded CI
ends render as text, never as an error."""

from __future__ import annotations

from judgelab.report.render import (fmt, fmt_ci, fmt_estimate, fmt_interval, fmt_number, fmt_value, fmt_value_ci,
                                    not_run, table)


def test_fmt_any_json_value() -> None:
    assert fmt(None) == "–" and fmt(True) == "yes" and fmt(False) == "no"
    assert fmt(0.12345) == "0.123" and fmt(0.5, 0) == "0" and fmt(7) == "7"  # ints as they are
    assert fmt([0.1, 0.25], 2) == "[0.10, 0.25]" and fmt("<b>") == "&lt;b&gt;"


def test_tolerant_values_and_cis() -> None:
    assert fmt_value(3.0, 0) == "3" and fmt_value(2.5, 0) == "2" and fmt_value(0.256) == "0.26"
    assert fmt_value(float("nan")) == "nan" and fmt_value({"a": 1}) == "–" and fmt_value("high") == "high"
    assert fmt_ci([None, 0.7]) == "[–, 0.70]" and fmt_ci([None, "x"]) == "" and fmt_ci(None) == ""
    assert fmt_value_ci(0.5, [0.4, 0.6]) == "0.50 [0.40, 0.60]" and fmt_value_ci(0.5, None) == "0.50"


def test_unbounded_interval_ends() -> None:
    assert fmt_interval([1050.0, None], 0) == "[1050, –]" and fmt_interval(None, 3) == "–"


def test_estimates_with_a_chosen_missing_marker() -> None:
    assert fmt_number(None, missing="n/a") == "n/a" and fmt_number(0.5) == "0.500"
    assert fmt_estimate(0.5125, [0.48, 0.54], nd=3, ci_nd=2) == "0.512 [0.48, 0.54]"
    assert fmt_estimate(None, missing="-") == "-" and fmt_estimate(0.25) == "0.25"


def test_table_and_not_run() -> None:
    t = table(["a", "b"], [["x", "1"]], row_class=["flag"])
    assert t == ('<table><tr><th class="l">a</th><th class="">b</th></tr>'
                 '<tr class="flag"><td class="l">x</td><td class="">1</td></tr></table>')
    assert not_run("Arena", "run <it>") == '<p class="notrun">Arena: not run (run &lt;it&gt;).</p>'
