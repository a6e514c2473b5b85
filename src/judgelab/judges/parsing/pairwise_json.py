"""Structured pairwise verdicts: JSON objects (``{"winner": "A"}``, ``{"better_response": 2}``,
per-side scores ``{"score_a": 7, "score_b": 9}``, AlpacaFarm's ``"Output (a) is better than Output
(b)": true``) and AlpacaEval's rankings (``[{'model': 'model_1', 'rank': 1}, ...]``), read as tier-3
candidates for judgelab.judges.parsing.pairwise; also the vocabulary both share (the words that name
a response or a tie, a verdict letter as a preference). Pure functions; reads and writes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from judgelab.judges.parsing.common import _Cand, _json_values, _lenient_load
from judgelab.judges.types import Preference

# Words that name one of the two responses ("Response A", "Assistant B", "Output 1") and a tie.
_RESP = r"(?:response|assistant|answer|output|model|option|candidate|text|completion)"
_TIE_WORDS = r"(?:tie|draw|tied|equal|equally[ \t]+good|neither)"
_OTHER = {"A": "B", "B": "A"}

# AlpacaEval ranking answers: {'model': 'model_1', 'rank': 1} (Python or JSON dicts, listed or not)
_RANK_DICT = re.compile(r"\{[^{}\n]{0,200}\brank\b[^{}\n]{0,200}\}|\{[^{}]{0,300}\brank\b[^{}]{0,300}\}", re.I)
_RANK_NAMES = {"model_1": "A", "model1": "A", "m": "A", "output_1": "A", "a": "A", "1": "A",
               "model_2": "B", "model2": "B", "M": "B", "output_2": "B", "b": "B", "2": "B"}
# Keys whose value may be the number of the better response (1 / 2): CON-J's "更好的回答" too.
NUMBERED_PAIR_KEYS = ("winner", "better", "better_response", "better_answer", "best_response", "preferred",
                      "preferred_response", "choice", "更好的回答", "更好的回应")
# {"score_a": 7, "score_b": 9}, {"response_a_score": 8, ...}, {"rating_1": ..., "rating_2": ...}
_SIDE_SCORE_KEY = re.compile(
    r"^(?:(?:score|rating)(?:for)?(?:response|assistant|output|model|answer)?(?P<s1>[ab12])"
    r"|(?:response|assistant|output|model|answer)?(?P<s2>[ab12])(?:score|rating))$")
_SIDE_NAME_KEY = re.compile(r"^(?:response|assistant|output|model|answer)?(?P<s>[ab])$")
_JSON_ARENA = re.compile(r"^[ \t]*\[{0,2}[ \t]*(?P<x>[AB])[ \t]*(?P<op>>>|>|=|<<|<)[ \t]*(?P<y>[AB])[ \t]*\]{0,2}[ \t]*$", re.I)
# AlpacaFarm's JSON: {"Output (a) is better than Output (b)": true}
_BOOL_KEY = re.compile(r"^(?:output|response|assistant)?\(?(?P<x>[ab12])\)?isbetter(?:than(?:output|response|assistant)?\(?(?P<y>[ab12])\)?)?$")
PAIR_KEYS = ("winner", "preference", "preferred", "verdict", "choice", "better", "better_response", "best_response",
             "preferred_response", "decision", "final_verdict", "final_answer", "answer", "result", "label",
             "better_answer", "更好的回答", "更好的回应")
_JSON_PREF = re.compile(
    rf"^[ \t]*(?:(?:{_RESP}|model)[ \t_]*+)?\(?(?P<ab>[abc])\)?[ \t]*$|^[ \t]*(?P<tie>{_TIE_WORDS}|both|none)[ \t]*$"
    rf"|^[ \t]*(?:{_RESP}|model)[ \t_]*+\(?(?P<n>[12])\)?[ \t]*$", re.I)


def _letter_pref(letter: str) -> Preference:
    letter = letter.strip().upper()
    return "tie" if letter in ("C", "TIE") else letter  # type: ignore[return-value]


def _norm_key(k: Any) -> str:
    return re.sub(r"[\s_\-]", "", str(k).lower())


def _json_pref(v: Any) -> Preference | None:
    if not isinstance(v, str):
        return None
    a = _JSON_ARENA.match(v)
    if a:  # {"verdict": "A>B"}
        x, op, y = a.group("x").upper(), a.group("op"), a.group("y").upper()
        if op == "=" or x == y:
            return "tie" if op == "=" else None
        return x if op.startswith(">") else y  # type: ignore[return-value]
    m = _JSON_PREF.match(v.replace("model_", "").replace("_", " "))
    if m is None:
        return None
    if m.group("tie"):
        return "tie"
    if m.group("n"):
        return "A" if m.group("n") == "1" else "B"
    return _letter_pref(m.group("ab"))


def _json_pair_cands(obj: Any, start: int) -> list[_Cand]:
    """Verdicts in one JSON value: preference keys, numbered winners, per-side scores, boolean
    "Output (a) is better than Output (b)" keys. Several different verdicts: none (no guess)."""
    prefs: set[Preference] = {p for p in (_json_pref(v) for v in _json_values(obj, PAIR_KEYS)) if p is not None}
    for v in _json_values(obj, NUMBERED_PAIR_KEYS):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v in (1, 2):
            prefs.add("A" if v == 1 else "B")
        elif isinstance(v, str) and v.strip() in ("1", "2"):
            prefs.add("A" if v.strip() == "1" else "B")
    sides: dict[str, list[float]] = {"A": [], "B": []}

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                nk = _norm_key(k)
                m = _SIDE_SCORE_KEY.match(nk)
                n = _SIDE_NAME_KEY.match(nk)
                if (m or n) and isinstance(v, (int, float)) and not isinstance(v, bool):
                    side = (m.group("s1") or m.group("s2")) if m else n.group("s")  # type: ignore[union-attr]
                    sides["A" if side in "a1" else "B"].append(float(v))
                b = _BOOL_KEY.match(nk)
                if b and isinstance(v, bool):
                    x = "A" if b.group("x") in "a1" else "B"
                    prefs.add(x if v else _OTHER[x])
                if isinstance(v, (dict, list)):
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(obj)
    if len(set(sides["A"])) == 1 and len(set(sides["B"])) == 1:
        a, b = sides["A"][0], sides["B"][0]
        prefs.add("A" if a > b else "B" if b > a else "tie")
    return [_Cand(3, start, prefs.pop())] if len(prefs) == 1 else []


def _rank_cands(answer: str) -> list[_Cand]:
    """AlpacaEval's ranking answers: the model ranked 1 wins (equal ranks: a tie)."""
    ranks: dict[str, set[float]] = {"A": set(), "B": set()}
    first = -1
    for m in _RANK_DICT.finditer(answer):
        d = _lenient_load(m.group(0))
        if not isinstance(d, dict):
            continue
        name = next((v for k, v in d.items() if _norm_key(k) in ("model", "modelname", "modelidentifier")), None)
        rank = next((v for k, v in d.items() if _norm_key(k) == "rank"), None)
        side = _RANK_NAMES.get(name if name in ("m", "M") else str(name).strip().lower()) if isinstance(name, (str, int)) else None
        if side is None or not isinstance(rank, (int, float)) or isinstance(rank, bool):
            continue
        ranks[side].add(float(rank))
        first = m.start() if first < 0 else first
    if any(len(r) > 1 for r in ranks.values()) or not (ranks["A"] or ranks["B"]):
        return []
    if ranks["A"] and ranks["B"]:
        a, b = next(iter(ranks["A"])), next(iter(ranks["B"]))
        return [_Cand(3, first, "A" if a < b else "B" if b < a else "tie")]
    side, (r,) = next((k, v) for k, v in ranks.items() if v)
    if r in (1.0, 2.0):  # two models: rank 1 wins, rank 2 loses
        return [_Cand(3, first, side if r == 1.0 else _OTHER[side])]
    return []
