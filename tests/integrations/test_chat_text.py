"""judgelab.integrations.chat_text: the one split of an OpenRLHF query into (request, response),
shared by the in-process adapter and `judgelab serve --reward`."""

from __future__ import annotations

import pytest

from judgelab.integrations.chat_text import split_query, strip_trailing_special

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
