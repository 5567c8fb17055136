#!/usr/bin/env bash
# Reproduces the sentiment app's results: fine-tunes MiniLM and the small model on SST-2 train,
# exports the small model to saved_models/sentiment/1 and writes
# benchmarks/results/sentiment_sst2.{json,md}. CPU: ~1 h (MiniLM, one epoch) + ~30 min (small)
# on 2 busy cores.  Usage: bash scripts/sentiment_sst2.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-/tmp/keras_llm_sentiment}"
python -m apps.sentiment.train --config=minilm --workdir="$RUNS/minilm"
python -m apps.sentiment.train --config=small --workdir="$RUNS/small"
python -m apps.sentiment.export --workdir="$RUNS/small" --base_dir=saved_models/sentiment \
    --version=1 --overwrite
python scripts/sentiment_sst2_results.py --minilm_workdir="$RUNS/minilm" \
    --small_workdir="$RUNS/small" --saved_model=saved_models/sentiment/1
