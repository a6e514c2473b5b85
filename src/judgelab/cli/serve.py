"""`judgelab serve`: run an OpenAI-compatible server (with request batching) over a local model."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--model", "model", default="smollm2-135m-instruct", show_default=True,
              help="Model spec: offline alias, local folder or HF hub id.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1),
              help="Largest batch formed from concurrent requests.")
@click.option("--max-wait-ms", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="How long a request waits for a batch to fill.")
@click.option("--served-model-name", default=None, help="Model name clients send (default: the spec).")
@click.option("--device", default="auto", show_default=True)
@click.option("--dtype", default="auto", show_default=True)
@click.option("--static-cache/--no-static-cache", default=False, show_default=True,
              help="Static KV cache + compiled forward (CUDA only).")
def command(model: str, host: str, port: int, batch_size: int, max_wait_ms: float, served_model_name: str | None,
            device: str, dtype: str, static_cache: bool) -> None:
    """Serve MODEL at http://HOST:PORT/v1 (chat completions, models, stats) and /health."""
    import uvicorn

    from judgelab.lm.local import GenerationOptions
    from judgelab.serve import create_app

    app = create_app(model, served_model_name, batch_size, max_wait_ms, device=device, dtype=dtype,
                     options=GenerationOptions(static_cache=static_cache))
    click.echo(f"serving {app.state.model_name} at http://{host}:{port}/v1 (batch size {batch_size})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
