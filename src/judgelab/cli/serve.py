"""`judgelab serve`: run an OpenAI-compatible server (continuous or static batching) over a local model,
and/or a scalar-reward endpoint (OpenRLHF's ``--reward.remote_url``) over a judge."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--model", "model", default=None,
              help="Model spec: offline alias, local folder or HF hub id. Default: smollm2-135m-instruct, "
                   "or none when --reward is given.")
@click.option("--reward", "reward", default=None, metavar="JUDGE_SPEC",
              help="Also serve POST /get_reward (OpenRLHF's remote reward-model shape) with this judge: a trained "
                   "judge folder (judgelab train-judge output, reward models included), a judge YAML (a plain HF "
                   "sequence-classification folder: `backend: {type: reward_model, model: DIR}`), or a registered judge "
                   "name. It must score (pointwise).")
@click.option("--reward-unparsed", default=0.0, show_default=True, type=float,
              help="Reward of a query whose verdict failed to parse.")
@click.option("--reward-raw-prompt", is_flag=True, default=False,
              help="Give the judge OpenRLHF's prompt as sent, instead of the last user turn of a chat template.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--batching", type=click.Choice(["continuous", "static"]), default="continuous", show_default=True,
              help="continuous: requests join and leave a running batch (transformers' continuous batching), so a long "
                   "request does not stall short ones; seeded and logprob requests take the static path. static: "
                   "concurrent requests are batched, one batch at a time.")
@click.option("--cb-blocks", default=None, type=click.IntRange(min=1),
              help="Continuous batching: KV cache size in blocks of 256 tokens, allocated at the first request. "
                   "Default: one request at --max-input-tokens + --max-new-tokens, plus a quarter (60 blocks: "
                   "15,360 tokens). A request that cannot fit gets 400.")
@click.option("--cb-max-batch-tokens", default=None, type=click.IntRange(min=1),
              help="Continuous batching: tokens per step; a long prompt is prefilled in chunks of this size, and a "
                   "short request waits for at most one chunk. Default: 256 on CPU, 2048 on CUDA.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1),
              help="Static batching (and the static path of continuous batching): largest batch formed from "
                   "concurrent requests.")
@click.option("--max-wait-ms", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Static batching: how long a request waits for a batch to fill.")
@click.option("--served-model-name", default=None, help="Model name clients send (default: the spec).")
@click.option("--device", default="auto", show_default=True)
@click.option("--dtype", default="auto", show_default=True)
@click.option("--static-cache/--no-static-cache", default=False, show_default=True,
              help="Static KV cache + compiled forward (CUDA only).")
@click.option("--max-body-bytes", default=1_000_000, show_default=True, type=click.IntRange(min=1),
              help="Larger request bodies get 413.")
@click.option("--max-input-tokens", default=8192, show_default=True, type=click.IntRange(min=1),
              help="Longer prompts get 400.")
@click.option("--max-new-tokens", default=4096, show_default=True, type=click.IntRange(min=1),
              help="Larger max_tokens get 400.")
@click.option("--request-timeout-s", default=600.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Slower requests get 504.")
def command(model: str | None, reward: str | None, reward_unparsed: float, reward_raw_prompt: bool, host: str,
            port: int, batching: str, cb_blocks: int | None, cb_max_batch_tokens: int | None, batch_size: int, max_wait_ms: float, served_model_name: str | None,
            device: str, dtype: str, static_cache: bool, max_body_bytes: int, max_input_tokens: int,
            max_new_tokens: int, request_timeout_s: float) -> None:
    """Serve MODEL at http://HOST:PORT/v1 (chat and text completions, models, stats), /health, and with
    --reward a judge's scalar reward at http://HOST:PORT/get_reward."""
    import socket

    import uvicorn

    from judgelab.errors import ConfigError
    from judgelab.lm.continuous import ContinuousOptions
    from judgelab.lm.local import GenerationOptions
    from judgelab.serve.app import ServeLimits, create_app
    from judgelab.serve.reward import RewardOptions

    # The port is checked before the model loads (a busy port must not cost a model load), with
    # SO_REUSEADDR as uvicorn binds: a restart right after a shutdown (its port in TIME-WAIT) is free.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", where="--host/--port",
                              hint="pick a free port (--port) or stop what holds it") from None
    limits = ServeLimits(max_body_bytes=max_body_bytes, max_input_tokens=max_input_tokens,
                         max_new_tokens=max_new_tokens, request_timeout_s=request_timeout_s)
    judge = None
    if reward is not None:
        from judgelab.judges.registry import load_judge

        judge = load_judge(reward, where="--reward")
    elif model is None:
        model = "smollm2-135m-instruct"
    app = create_app(model, served_model_name, batch_size, max_wait_ms, device=device, dtype=dtype,
                     options=GenerationOptions(static_cache=static_cache), limits=limits, reward_judge=judge,
                     reward_options=RewardOptions(unparsed_reward=reward_unparsed,
                                                  unwrap_chat_template=not reward_raw_prompt),
                     batching=batching, continuous=ContinuousOptions(cb_blocks, cb_max_batch_tokens))
    if model is not None:
        cont = app.state.serve.continuous
        how = (f"continuous batching, KV cache {cont.capacity:,} tokens" if cont is not None
               else f"static batching, batch size {batch_size}")
        click.echo(f"serving {app.state.serve.served} at http://{host}:{port}/v1 ({how})", err=True)
    if judge is not None:
        click.echo(f"serving judge {judge.name} as a reward at http://{host}:{port}/get_reward", err=True)
    # SIGTERM: stop accepting, give in-flight requests a few seconds (each is bounded by the limits).
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
