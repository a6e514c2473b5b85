"""Local text generation: chat messages -> Generations with a transformers causal LM.

``LocalGenerator.generate_batch(messages_list, params)`` is synchronous (chat template, left-padded
batch, greedy or seeded top-p sampling, token counts, latency); every model call runs on one
dedicated thread. A plain ``str`` in place of a conversation is a raw prompt, tokenized as is
(the tokenizer's own special tokens, no chat template): what ``/v1/completions`` sends. A
``StreamingPrompt`` (either of those plus an ``on_token`` callback) reports each token of its row
as it is generated, from the model thread (``judgelab serve``'s incremental streaming).

Logprobs (``params.top_logprobs = k > 0``): each returned token's logprob and the k most likely
alternatives at its position, as OpenAI/vLLM return them. They are the log-softmax of the model's
*raw* next-token logits, before temperature and top-p (vLLM's default, "raw model distribution"):
the same logprobs whatever the sampling settings, which is what a logprob-based judge wants (an
expectation over score tokens must not depend on the judge's decoding temperature). Greedy: the
chosen token is the top-1 alternative. One entry per token of the returned text (the stop token
that ended it is not included). Token texts are each token decoded alone (a byte-level token that
is part of a multi-byte character decodes to U+FFFD, as in vLLM).

Concurrent callers reach it through ``judgelab.lm.batcher.DynamicBatcher`` (the transformers
backend, ``judgelab serve --batching static``) or share the model with continuous batching
(``judgelab.lm.continuous``, which sets ``model_guard`` so every model call here waits for its
generation loop to pause); batch callers (sampling, evaluation sampling, reference responses)
call it directly with fixed batches.

Extension point: anything implementing ``TextGenerator`` (a ``generate_batch`` method) can sit
behind the batcher, so faster engines (vLLM, a compiled static-cache path) slot in without
touching callers. ``GenerationOptions.static_cache`` already turns on transformers' static KV cache
(which compiles the forward) on CUDA.

Reads: a loaded model + tokenizer (see judgelab.models). Writes: nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from judgelab.lm.types import Generation, Messages, SamplingParams, TokenLogprob

log = logging.getLogger(__name__)


@dataclass
class GenerationOptions:
    """Engine knobs that change speed, not results (greedy outputs are unchanged)."""

    # transformers' static KV cache (+ compiled forward). Only used on CUDA, where it is 10-30x
    # faster at small batch; on CPU the compile cost dominates, so it is ignored there.
    static_cache: bool = False
    # Prompts longer than this many tokens are cut from the left (the end of a chat matters most).
    max_input_tokens: int | None = None


@dataclass
class StreamingPrompt:
    """A conversation or raw prompt whose tokens are reported while its batch generates:
    ``on_token(token_id, logprob)`` is called on the model thread for every token of the returned
    text, in order (not for the stop token; ``logprob`` is None unless the params ask for
    logprobs). The Generation still arrives as usual when the batch ends."""

    prompt: Messages | str
    on_token: Callable[[int, TokenLogprob | None], None]


Prompt = Messages | str | StreamingPrompt


class LocalGenerator:
    """Batched chat generation with a transformers causal LM."""

    def __init__(self, model: Any, tokenizer: Any, options: GenerationOptions | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.options = options or GenerationOptions()
        # Left padding so every row's last prompt token is at the same position for decoding.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # Every model call runs on this one thread, whoever calls: one generate at a time (the
        # model is not thread-safe), and CUDA graphs captured by the static-cache path are bound
        # to the thread that captured them (replaying them from another thread fails).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judgelab-generate")
        self._eos_ids = self._collect_eos_ids()
        # Entered around every model call: another engine sharing the model (continuous batching)
        # sets it to a pause of its own loop.
        self.model_guard: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext

    @classmethod
    def from_spec(
        cls, spec: str, *, device: str = "auto", dtype: str = "auto", options: GenerationOptions | None = None
    ) -> "LocalGenerator":
        from judgelab.models.loading import load_model

        model, tok = load_model(spec, task="causal-lm", device=device, dtype=dtype)
        return cls(model, tok, options)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def eos_ids(self) -> set[int]:
        """Token ids that end a generation (the model's and the tokenizer's EOS)."""
        return self._eos_ids

    def _collect_eos_ids(self) -> set[int]:
        ids: set[int] = set()
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for v in (gen_eos, self.tokenizer.eos_token_id):
            if isinstance(v, int):
                ids.add(v)
            elif isinstance(v, (list, tuple)):
                ids.update(int(x) for x in v)
        return ids

    def render(self, messages: Prompt) -> str:
        """Chat template with the assistant turn opened (a raw prompt string: itself)."""
        if isinstance(messages, StreamingPrompt):
            messages = messages.prompt
        if isinstance(messages, str):
            return messages
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _ids(self, messages: Prompt) -> list[int]:
        if isinstance(messages, StreamingPrompt):
            messages = messages.prompt
        # A chat template already holds the BOS/special tokens it wants; a raw prompt gets the
        # tokenizer's own (as vLLM's /v1/completions does).
        ids = self.tokenizer(self.render(messages), add_special_tokens=isinstance(messages, str))["input_ids"]
        return list(ids)

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of generated token ids, as ``Generation.text`` decodes it."""
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def completion_logprobs(self, prompts: Sequence[Prompt], completions: Sequence[str], batch_size: int = 8) -> list[float]:
        """Sum of the model's log-probabilities of each completion's tokens after its prompt (the
        completion text re-tokenized after the rendered prompt; teacher forcing, no sampling)."""
        import torch

        out: list[float] = []
        for b in range(0, len(prompts), batch_size):
            seqs, starts = [], []
            for p, c in zip(prompts[b:b + batch_size], completions[b:b + batch_size]):
                head = self._ids(p)
                tail = self.tokenizer(c, add_special_tokens=False)["input_ids"]
                seqs.append(head + list(tail))
                starts.append(len(head))
            width = max(len(s) for s in seqs)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=self.device)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=self.device)
            with torch.no_grad(), self.model_guard():
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
            for k, (s, start) in enumerate(zip(seqs, starts)):
                out.append(float(logp[k, start - 1:len(s) - 1].sum()))
        return out

    def count_tokens(self, messages: Prompt) -> int:
        """Prompt tokens of one conversation or raw prompt (what a request's input costs)."""
        return len(self._ids(messages))

    def prompt_ids(self, messages: Prompt) -> list[int]:
        """The token ids generation starts from (``max_input_tokens`` applied)."""
        ids, cap = self._ids(messages), self.options.max_input_tokens
        return ids[-cap:] if cap else ids  # cut from the left: the end of a chat matters most

    def _encode(self, messages_list: Sequence[Prompt]) -> dict[str, Any]:
        rows = [self.prompt_ids(m) for m in messages_list]
        enc = self.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt", padding_side="left")
        return {k: v.to(self.device) for k, v in enc.items()}

    def _generate_kwargs(self, params: SamplingParams) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.temperature and params.temperature > 0:
            kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            # Explicit None/1.0 silences warnings from generation configs that ship sampling defaults.
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self.options.static_cache and self.device.type == "cuda":
            kw["cache_implementation"] = "static"
        return kw

    def close(self) -> None:
        """Stop the model thread (the model itself is freed with the last reference to it)."""
        self._executor.shutdown(wait=True)

    #: generate_batch takes ``should_stop`` (the batcher passes which rows' clients are gone)
    supports_cancel = True

    def generate_batch(self, messages_list: Sequence[Prompt], params: SamplingParams,
                       should_stop: Callable[[], Sequence[bool]] | None = None) -> list[Generation]:
        """Generate one completion per conversation or raw prompt (all with ``params``); raises on
        model errors. A ``response_format`` other than text cannot be honoured here: every
        Generation then carries an error saying so (never silently free text). ``should_stop()``,
        polled after every token, says which rows nobody waits for any more: they stop there (their
        text is cut short), and the batch ends as soon as every row has stopped."""
        if not messages_list:
            return []
        rf_type = (params.response_format or {}).get("type", "text")
        if rf_type != "text":
            msg = (f"response_format {rf_type!r} is not supported by the local transformers backend "
                   "(no constrained decoding); ask for the format in the prompt instead")
            return [Generation(text="", error=msg) for _ in messages_list]
        return self._executor.submit(self._generate_batch, list(messages_list), params, should_stop).result()

    def _generate_batch(self, messages_list: list[Prompt], params: SamplingParams,
                        should_stop: Callable[[], Sequence[bool]] | None = None) -> list[Generation]:
        import torch

        t0 = time.perf_counter()
        enc = self._encode(messages_list)
        prompt_len = enc["input_ids"].shape[1]
        kw = self._generate_kwargs(params)
        recorder = None
        if params.top_logprobs > 0:
            recorder, kw = _with_logprob_recorder(kw, params.top_logprobs, self.model.generation_config)
        if should_stop is not None:
            from transformers import StoppingCriteria, StoppingCriteriaList

            class _Abandoned(StoppingCriteria):
                def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                    return torch.tensor(list(should_stop()), dtype=torch.bool, device=input_ids.device)

            kw["stopping_criteria"] = StoppingCriteriaList([_Abandoned()])
        callbacks = [m.on_token if isinstance(m, StreamingPrompt) else None for m in messages_list]
        if any(callbacks):
            kw["streamer"] = _RowStreamer(self, callbacks, recorder)
        with self.model_guard(), torch.inference_mode(), _seeded(params.seed, self.device):
            out = self.model.generate(**enc, **kw)
        latency = time.perf_counter() - t0
        new = out[:, prompt_len:].tolist()
        prompt_counts = enc["attention_mask"].sum(dim=1).tolist()
        steps = recorder.finish(out) if recorder is not None else None
        gens = []
        for b, (row, n_prompt) in enumerate(zip(new, prompt_counts)):
            stop = next((i for i, t in enumerate(row) if t in self._eos_ids), None)
            kept = row if stop is None else row[:stop]
            gens.append(
                Generation(
                    text=self.tokenizer.decode(kept, skip_special_tokens=True),
                    prompt_tokens=int(n_prompt),
                    completion_tokens=len(row) if stop is None else stop + 1,
                    latency_s=latency,
                    finish_reason="length" if stop is None else "stop",
                    logprobs=None if steps is None else self._token_logprobs(kept, b, steps),
                )
            )
        return gens

    def _token_logprobs(self, kept: list[int], row: int, steps: "_Steps") -> list[TokenLogprob]:
        chosen, top_lp, top_ids = steps
        out = []
        for i, tid in enumerate(kept):
            top = [(self._token_text(int(t)), float(v)) for t, v in zip(top_ids[i][row], top_lp[i][row])]
            out.append(TokenLogprob(token=self._token_text(tid), logprob=float(chosen[i][row]), top=top, id=int(tid)))
        return out

    def _token_text(self, tid: int) -> str:
        return self.tokenizer.decode([tid], skip_special_tokens=False)


class _RowStreamer:
    """transformers' streamer interface (``put`` once with the prompt ids, then once per step with
    each row's new token; ``end``), handing each row's tokens to its own callback until its stop
    token. With a logprob recorder, the step's logprobs are complete when ``put`` is called (the
    logits processor ran before the token was chosen)."""

    def __init__(self, gen: "LocalGenerator", callbacks: list[Callable[[int, TokenLogprob | None], None] | None],
                 recorder: "_LogprobRecorder | None"):
        self.gen, self.callbacks, self.recorder = gen, callbacks, recorder
        self.done = [cb is None for cb in callbacks]

    def put(self, value: Any) -> None:
        if value.dim() > 1:  # the prompt
            return
        tokens = value.tolist()
        for row, cb in enumerate(self.callbacks):
            if self.done[row] or cb is None:
                continue
            tid = int(tokens[row])
            if tid in self.gen._eos_ids:
                self.done[row] = True
                continue
            lp = None
            if self.recorder is not None and self.recorder._prev is not None:
                r = self.recorder
                top = [(self.gen._token_text(int(t)), float(v)) for t, v in zip(r.top_ids[-1][row], r.top_lp[-1][row])]
                lp = TokenLogprob(token=self.gen._token_text(tid), logprob=float(r._prev[row, tid]), top=top, id=tid)
            try:
                cb(tid, lp)
            except Exception:  # noqa: BLE001 - a listener's failure must not fail the batch
                log.exception("stream callback failed; row %d stops streaming", row)
                self.done[row] = True

    def end(self) -> None:
        pass


# (chosen logprob per step, top-k logprobs per step, top-k ids per step); each step is a list over
# the batch rows (steps past a row's end hold whatever the padding produced and are never read).
_Steps = tuple[list[list[float]], list[list[list[float]]], list[list[list[int]]]]


def _with_logprob_recorder(kw: dict[str, Any], k: int, generation_config: Any = None
                           ) -> tuple["_LogprobRecorder", dict[str, Any]]:
    """generate() kwargs with a recorder that sees the raw logits. transformers appends custom
    logits processors after its own (temperature, top-p), so those are turned off in the config and
    re-added as custom processors after the recorder, in transformers' own order: the same
    distribution is sampled from, and a seeded sample is the same with or without logprobs."""
    from transformers import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                              TopPLogitsWarper)

    recorder = _LogprobRecorder(k)
    procs: list[Any] = [recorder]
    kw = dict(kw)
    # The model's own generation_config may add a repetition penalty (Qwen2.5-Instruct: 1.05),
    # which generate() applies before any custom processor: move it after the recorder too, or
    # the "raw" logprobs of score digits that appear in the prompt come out penalised.
    rp = getattr(generation_config, "repetition_penalty", None)
    if rp is not None and rp != 1.0:
        kw["repetition_penalty"] = 1.0
        procs.append(RepetitionPenaltyLogitsProcessor(rp))
    if kw.get("do_sample"):
        temperature, top_p = kw.get("temperature") or 1.0, kw.get("top_p") or 1.0
        kw.update(temperature=1.0, top_p=1.0, top_k=0)
        if temperature != 1.0:
            procs.append(TemperatureLogitsWarper(temperature))
        if top_p < 1.0:
            procs.append(TopPLogitsWarper(top_p))
    kw["logits_processor"] = LogitsProcessorList(procs)
    return recorder, kw


class _LogprobRecorder:
    """A logits processor that leaves the scores alone and records, per decoding step, the top-k
    of log-softmax(raw logits) and (one step later, once it is known) the chosen token's logprob.
    Only one step's full distribution is kept, so memory does not grow with the output length."""

    def __init__(self, k: int):
        self.k = k
        self.chosen: list[list[float]] = []
        self.top_lp: list[list[list[float]]] = []
        self.top_ids: list[list[list[int]]] = []
        self._prev: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self._prev is not None:  # input_ids now ends with the token chosen from the last step
            self.chosen.append(self._prev.gather(1, input_ids[:, -1:]).squeeze(1).tolist())
        lp = torch.log_softmax(scores.float(), dim=-1)
        v, i = lp.topk(min(self.k, lp.shape[-1]), dim=-1)  # sorted, most likely first
        self.top_lp.append(v.tolist())
        self.top_ids.append(i.tolist())
        self._prev = lp
        return scores

    def finish(self, sequences: Any) -> _Steps:
        """The last step's chosen token is only in the final sequences."""
        if self._prev is not None:
            self.chosen.append(self._prev.gather(1, sequences[:, -1:].to(self._prev.device)).squeeze(1).tolist())
            self._prev = None
        return self.chosen, self.top_lp, self.top_ids


@contextlib.contextmanager
def _seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seed sampling for this call only; the caller's global RNG state is restored afterwards."""
    import torch

    if seed is None:
        yield
        return
    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
