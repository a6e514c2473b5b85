"""`judgelab serve`: an OpenAI-compatible HTTP server over a local model, and a scalar-reward
endpoint (OpenRLHF's remote reward-model shape) over any judgelab judge.

Endpoints:

- ``POST /v1/chat/completions``: messages -> choices; ``n`` choices, ``logprobs``/``top_logprobs``
  (OpenAI's ``choices[i].logprobs.content`` shape), ``stream`` (server-sent events,
  judgelab.serve.streaming), ``stop``, ``seed``, ``stream_options.include_usage``.
- ``POST /v1/completions``: OpenAI's legacy text completions; ``prompt`` a string or a list of
  strings (one set of ``n`` choices per prompt, indexed prompt-major), ``logprobs: k`` in the
  legacy shape (``tokens``, ``token_logprobs``, ``top_logprobs`` dicts, ``text_offset``),
  ``stream``. The prompt is tokenized as is (no chat template).
- ``POST /get_reward``: OpenRLHF's ``--reward.remote_url`` protocol (``judgelab serve --reward``):
  request ``{"query": [...], "prompts": [...], "labels": [...]}``, answer
  ``{"rewards": [...], "scores": [...], "extra_logs": {...}}``, one float per query
  (judgelab.serve.reward).
- ``GET /v1/models``, ``GET /health``, ``GET /v1/stats`` (batching counters).

Text requests are batched continuously (judgelab.lm.continuous, ``judgelab serve``'s default) or one
batch at a time (judgelab.lm.batcher, ``--batching static``): see ``app``.

Modules: ``schemas`` (request shapes, what is refused, OpenAI's error shape), ``streaming`` (SSE
and logprob shapes), ``app`` (``create_app``, the route handlers, limits), ``reward`` (the reward
service behind ``/get_reward``).
"""
