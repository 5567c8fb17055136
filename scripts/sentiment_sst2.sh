#!/usr/bin/env bash
# Reproduces the sentiment app's results (benchmarks/results/sentiment_sst2.{json,md}) and the
# shipped small model saved_models/sentiment/1. ~2 h of CPU on 2 busy cores.
#   1. MiniLM-L6: one epoch on SST-2 train, then a second pass over 12,000 rows at a lower rate.
#   2. Small BERT (8k MiniLM-subset vocabulary, 2 x 256, PCA-initialized embeddings): 3 epochs
#      on labels, then 1 epoch of distillation: logit matching to the first MiniLM run on the
#      first 20,000 train rows, labels on the others.
#   3. Export the small model, collect the accuracies.
# Usage: bash scripts/sentiment_sst2.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
R="${1:-/tmp/keras_llm_sentiment}"
python -m apps.sentiment.train --config=minilm --workdir="$R/minilm" --host_tokenizer=huggingface
python -m apps.sentiment.train --config=minilm --workdir="$R/minilm_cont" \
    --override=train.init_weights="$R/minilm/model.weights.h5" \
    --override=train.max_examples=12000 --override=train.learning_rate=2e-5 --override=train.seed=1
python -m apps.sentiment.train --config=small --workdir="$R/small_hard"
python -m apps.sentiment.evaluate --workdir="$R/minilm" --split=train --max_examples=20000 \
    --batch_size=128 --save_logits="$R/minilm/train_logits_20k.npy"
python -m apps.sentiment.train --config=small --workdir="$R/small_distill" \
    --override=model.vocabulary="$R/small_hard/vocab.txt" \
    --override=train.init_weights="$R/small_hard/model.weights.h5" \
    --override=train.teacher_logits="$R/minilm/train_logits_20k.npy" \
    --override=train.epochs=1 --override=train.learning_rate=2e-4
python -m apps.sentiment.export --workdir="$R/small_distill" --base_dir=saved_models/sentiment \
    --version=1 --overwrite
python scripts/sentiment_sst2_results.py --minilm_workdir="$R/minilm_cont" \
    --small_workdir="$R/small_distill" --saved_model=saved_models/sentiment/1
