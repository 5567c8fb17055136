"""SST-2 accuracy of a trained workdir (host tokenization) or of an exported SavedModel (raw text
through its `serving_default` signature, i.e. the in-graph tokenizer).

    python -m apps.sentiment.evaluate --workdir=/tmp/sst2_small
    python -m apps.sentiment.evaluate --saved_model=saved_models/sentiment/1
    python -m apps.sentiment.evaluate --workdir=/tmp/sst2_minilm --split=train \
        --save_logits=/tmp/sst2_minilm/train_logits.npy   # teacher logits for distillation
"""
import json

import numpy as np
from absl import app
from absl import flags

import keras_llm  # noqa: F401  (TensorFlow backend before keras)
from apps.sentiment import data
from apps.sentiment import lib

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir (from apps.sentiment.train).")
flags.DEFINE_string("saved_model", None, "SavedModel version folder (from apps.sentiment.export).")
flags.DEFINE_enum("split", "dev", ["dev", "train"], "SST-2 split (labelled ones).")
flags.DEFINE_string("data_dir", "", "Folder with train.tsv/dev.tsv; default <shared data>/sst2.")
flags.DEFINE_string("save_logits", None, "With --workdir: save logits (N, 2) as .npy, rows "
                    "aligned with the split's TSV.")
flags.DEFINE_enum("host_tokenizer", "keras_llm", ["keras_llm", "huggingface"],
                  "Host-side tokenization for --workdir.")
flags.DEFINE_integer("batch_size", 64, "Inference batch size.")
flags.DEFINE_integer("max_examples", 0, "Only the first N rows (0 = all); with --save_logits "
                     "the other rows get NaN logits (distillation then uses their labels).")


def main(argv):
    del argv
    if bool(FLAGS.workdir) == bool(FLAGS.saved_model):
        raise app.UsageError("Give exactly one of --workdir and --saved_model.")
    tsv = data.sst2_dir(FLAGS.data_dir) / f"{FLAGS.split}.tsv"
    if FLAGS.saved_model:
        metrics = lib.evaluate_saved_model(FLAGS.saved_model, tsv, FLAGS.batch_size)
    else:
        config, vocabulary, model = lib.load_workdir(FLAGS.workdir)
        texts, labels = data.read_tsv(tsv)
        n = FLAGS.max_examples or len(texts)
        logits = lib.predict_logits(config, vocabulary, model, texts[:n], FLAGS.host_tokenizer,
                                    FLAGS.batch_size)
        metrics = {"accuracy": float(np.mean(logits.argmax(-1) == labels[:n])), "examples": n}
        if FLAGS.save_logits:
            full = np.full((len(texts), logits.shape[1]), np.nan, np.float32)
            full[:n] = logits
            np.save(FLAGS.save_logits, full)
    print(json.dumps({"split": FLAGS.split, **metrics}, indent=2))


if __name__ == "__main__":
    app.run(main)
