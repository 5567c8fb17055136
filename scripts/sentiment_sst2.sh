#!/usr/bin/env bash
# Reproduces benchmarks/results/sentiment_sst2_finetune.{json,md}: the sentiment app's recipe run
# through keras_llm.finetune (about 1 h of CPU on 2 quiet cores).
#   1. MiniLM-L6 fine-tuned for 2 epochs at lr 3e-5 (10% warmup, linear decay; the `minilm`
#      config): the teacher and the MiniLM result.
#   2. Its logits on every SST-2 train row.
#   3. The small BERT (`small` config: 8k MiniLM-subset vocabulary, 2 x 256, PCA-initialized
#      embeddings) trained 3 epochs on those logits only (MSE on logits, distill_alpha 1).
#   4. The small model exported (a SavedModel under $R/export) and measured through it.
# (benchmarks/results/sentiment_sst2.{json,md} hold the runs of the earlier stack, commit fa6d451,
# which produced the shipped saved_models/sentiment/1.)
# Usage: bash scripts/sentiment_sst2.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
R="${1:-/tmp/keras_llm_sentiment}"
python -m apps.sentiment.train --config=minilm --workdir="$R/minilm"
python -m apps.sentiment.evaluate --workdir="$R/minilm" --split=train \
    --save_logits="$R/minilm/train_logits.npy"
python -m apps.sentiment.train --config=small --workdir="$R/small" \
    --override=teacher_logits="$R/minilm/train_logits.npy"
python -m apps.sentiment.export --workdir="$R/small" --base_dir="$R/export" --version=1 --overwrite
python scripts/sentiment_sst2_results.py --minilm_workdir="$R/minilm" --small_workdir="$R/small" \
    --saved_model="$R/export/1" --name=sentiment_sst2_finetune
