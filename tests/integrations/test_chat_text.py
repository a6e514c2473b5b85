"""judgelab.integrations.chat_text: the one split of an OpenRLHF query into (request, response),
shared by the in-process adapter and `judgelab serve --reward`."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judgelab.integrations.chat_text import split_query, strip_trailing_special, user_request

TEMPLATED = [  # (prompt as a chat template renders it, the end-of-turn the policy's decode leaves)
    ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n",
     "<|im_end|>"),  # ChatML
    ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"),  # Llama 3
    ("<bos><start_of_turn>user\nName a colour.<end_of_turn>\n<start_of_turn>model\n", "<end_of_turn>"),  # Gemma
    ("<|user|>\nName a colour.<|end|>\n<|assistant|>\n", "<|end|><|endoftext|>"),  # Phi-3
    ("<s>[INST] Name a colour. [/INST]", "</s>"),  # Mistral, Llama 2
]


@pytest.mark.parametrize("prompt, end", TEMPLATED)
def test_five_templates_give_the_user_turn_and_the_response(prompt: str, end: str) -> None:
    assert split_query(prompt + " Blue." + end, prompt) == ("Name a colour.", "Blue.")
    assert split_query(prompt + " Blue." + end, prompt, unwrap=False) == (prompt, "Blue.")


@pytest.mark.parametrize("prompt, end", TEMPLATED)
def test_a_truncated_prompt_falls_back_to_the_assistant_marker(prompt: str, end: str) -> None:
    query = prompt[len(prompt) // 3:] + "Blue." + end  # the policy kept only the prompt's end
    assert split_query(query, prompt) == ("Name a colour.", "Blue.")


def test_no_marker_judges_the_whole_query_and_end_tokens_go() -> None:
    assert split_query("Say hi. Hello", "Say hi!") == ("Say hi!", "Say hi. Hello")
    assert strip_trailing_special("Hi<｜end▁of▁sentence｜>") == "Hi"  # DeepSeek's full-width bars
    assert strip_trailing_special("Hi <eos>\n</s> <pad>") == "Hi"


# The split as it was written before it was made linear (lazy ``start(.*?)end`` turns, one
# trailing-marker regex): the reference the linear code must agree with on every input.
_REF_USER_TURN = [
    re.compile(r"<\|im_start\|>user\s*\n(.*?)<\|im_end\|>", re.S),
    re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*(.*?)<\|eot_id\|>", re.S),
    re.compile(r"<start_of_turn>user\s*\n(.*?)<end_of_turn>", re.S),
    re.compile(r"<\|user\|>\s*(.*?)(?:<\|end\|>|</s>|<\|assistant\|>)", re.S),
    re.compile(r"\[INST\](.*?)\[/INST\]", re.S),
]
_REF_TRAILING = re.compile(
    r"(?:\s*(?:<\|[A-Za-z0-9_]{1,40}\|>|<｜[^｜<>]{1,40}｜>|</s>|<eos>|<end_of_turn>|<pad>))+\s*$")


def _ref_user_request(prompt: str) -> str:
    for pat in _REF_USER_TURN:
        turns = pat.findall(prompt)
        if turns:
            return turns[-1].strip()
    return prompt.strip()


PIECES = ["<|im_start|>", "user", "assistant", "model", "\n", " ", "\t", "x", "Blue.", "<|im_end|>", "<|eot_id|>",
          "<|start_header_id|>", "<|end_header_id|>", "<start_of_turn>", "<end_of_turn>", "<|user|>", "<|end|>",
          "<|assistant|>", "</s>", "[INST]", "[/INST]", "<eos>", "<pad>", "<|endoftext|>", "<｜end▁of▁sentence｜>",
          "<", "|", ">", "｜", "<|", "|>"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=16).map("".join))
def test_linear_split_agrees_with_the_regex_reference(text: str) -> None:
    assert user_request(text) == _ref_user_request(text)
    assert strip_trailing_special(text) == _REF_TRAILING.sub("", text)


@pytest.mark.parametrize("prompt, end", TEMPLATED)
def test_the_five_templates_split_as_the_reference_does(prompt: str, end: str) -> None:
    for query in (prompt + " Blue." + end, prompt + " Blue." + end + "\n \n", prompt + "Blue. \n"):
        assert user_request(prompt) == _ref_user_request(prompt) == "Name a colour."
        assert strip_trailing_special(query) == _REF_TRAILING.sub("", query)
    assert strip_trailing_special("Blue.  \n") == "Blue.  \n"  # no end marker: trailing space kept, as before


@pytest.mark.parametrize("func, text, expected", [
    pytest.param(strip_trailing_special, "a" + " " * 200_000 + "b", "a" + " " * 200_000 + "b", id="spaces-then-text"),
    pytest.param(strip_trailing_special, "a" + " " * 200_000, "a" + " " * 200_000, id="trailing-spaces"),  # kept: no marker
    pytest.param(strip_trailing_special, "a" + "<pad> " * 40_000, "a", id="many-end-markers"),  # each peeled in turn
    pytest.param(user_request, "<|im_start|>user\n" * 20_000, None, id="chatml-starts"),  # no end marker: as sent
    pytest.param(user_request, "<|user|>" * 20_000, None, id="phi-starts"),
    pytest.param(user_request, "[INST]" * 20_000, None, id="inst-starts"),
])
def test_hostile_texts_split_as_the_reference_does(func, text: str, expected: str | None) -> None:
    """A decoded query is untrusted text. On these the old regexes took minutes (holding ``judgelab
    serve``'s event loop); the split gives what they gave. Its time on them, against the old regexes
    at two sizes: ``python bench/bench_chat_split.py`` (linear vs quadratic; no timing asserted here)."""
    assert func(text) == (text.strip() if expected is None else expected)
