"""Sentiment app library: vocabulary, model, fine-tuning / distillation, evaluation, export.

The scripts (`train.py`, `evaluate.py`, `export.py`, `predict.py`) are thin shells over these
functions. A workdir holds `config.json`, `vocab.txt`, `model.weights.h5`, `metrics.json`
(and `epoch_K.weights.h5` after each training epoch).
Shapes: B batch, T tokens, N examples, C = 2 classes.
"""
import dataclasses
import json
import pathlib
import time
from typing import List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from apps.sentiment import config as config_lib
from apps.sentiment import data
from keras_llm import models
from keras_llm.utils import paths

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
WEIGHTS_FILE = "model.weights.h5"
METRICS_FILE = "metrics.json"


# ---- vocabulary and host tokenization -------------------------------------------------------
def prepare_vocabulary(config: config_lib.SentimentConfig, workdir, train_texts) -> str:
    """Writes `<workdir>/vocab.txt` (given, MiniLM's, or trained on SST-2 train); returns it."""
    target = pathlib.Path(workdir) / VOCAB_FILE
    if config.model.vocabulary:
        tokens = _read_lines(config.model.vocabulary)
    elif config.model.kind == "minilm":
        tokens = _read_lines(paths.minilm_dir() / VOCAB_FILE)
    elif config.model.vocabulary_source == "minilm_subset":
        tokens = minilm_subset_vocabulary(train_texts, config.model.vocabulary_size)
    elif config.model.vocabulary_source != "train":
        raise ValueError(f"model.vocabulary_source must be 'train' or 'minilm_subset', got "
                         f"{config.model.vocabulary_source!r}.")
    else:
        from keras_llm import tokenizers  # pylint: disable=import-outside-toplevel
        logging.info("Training a %d-token WordPiece vocabulary on %d texts.",
                     config.model.vocabulary_size, len(train_texts))
        tokens = tokenizers.train_wordpiece_vocabulary(
                train_texts, config.model.vocabulary_size, lowercase=True)
    target.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(target)


def minilm_subset_vocabulary(texts, size: int) -> List[str]:
    """MiniLM's specials and single-character pieces, then its WordPieces most frequent in
    `texts`, up to `size` tokens, in MiniLM's order (so embeddings can be copied over)."""
    minilm = _read_lines(paths.minilm_dir() / VOCAB_FILE)
    encoder = HostEncoder(str(paths.minilm_dir() / VOCAB_FILE), "keras_llm")
    counts = np.bincount(np.concatenate([np.asarray(ids, np.int64) for ids in
                                         encoder.encode(texts)]), minlength=len(minilm))
    keep = {i for i, t in enumerate(minilm) if t.startswith("[") and t.endswith("]")
            and not t.startswith("[unused")}
    keep |= {i for i, t in enumerate(minilm)
             if len(t.removeprefix("##")) == 1 and ord(t[-1]) < 0x250}  # Latin chars, ASCII
    if len(keep) >= size:
        raise ValueError(f"vocabulary_size={size} is too small for MiniLM's {len(keep)} "
                         "special and single-character tokens.")
    for i in np.argsort(-counts, kind="stable"):
        if len(keep) >= size or counts[i] == 0:
            break
        keep.add(int(i))
    return [minilm[i] for i in sorted(keep)]


def init_embeddings_from_minilm(backbone, vocabulary: Sequence[str]) -> None:
    """Token/position/segment embeddings from MiniLM, projected on the top `hidden_dim`
    principal components of MiniLM's token embeddings (fit on the kept rows)."""
    from keras_llm.models.bert import huggingface  # pylint: disable=import-outside-toplevel
    weights = huggingface.read_weights(paths.minilm_dir())
    minilm_ids = {t: i for i, t in enumerate(_read_lines(paths.minilm_dir() / VOCAB_FILE))}
    missing = [t for t in vocabulary if t not in minilm_ids]
    if missing:
        raise ValueError(f"init_embeddings=minilm_pca needs MiniLM tokens; not in MiniLM: "
                         f"{missing[:10]}")
    tokens = weights["embeddings.word_embeddings.weight"][[minilm_ids[t] for t in vocabulary]]
    mean = tokens.mean(axis=0)
    _, _, components = np.linalg.svd(tokens - mean, full_matrices=False)
    projection = components[:backbone.hidden_dim].T  # (384, D)
    positions = weights["embeddings.position_embeddings.weight"][:backbone.max_sequence_length]
    segments = weights["embeddings.token_type_embeddings.weight"][:backbone.num_segments]
    backbone.token_embedding.embeddings.assign((tokens - mean) @ projection)
    backbone.position_embedding.position_embeddings.assign(positions @ projection)
    backbone.segment_embedding.embeddings.assign(segments @ projection)


def _read_lines(path) -> List[str]:
    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"Vocabulary file {path} does not exist.")
    return [line.rstrip("\n") for line in open(path, encoding="utf-8") if line.strip()]


class HostEncoder:
    """Host-side (numpy) tokenization into packed rows `[CLS] ids [SEP]`.

    `backend="keras_llm"` uses `WordPieceTokenizer.encode` (the same tokenizer the SavedModel
    runs in-graph); `"huggingface"` uses the `tokenizers` package's BERT WordPiece as a
    reference implementation (dev dependency; for cross-checks).
    """

    def __init__(self, vocabulary: str, backend: str = "keras_llm"):
        tokens = _read_lines(vocabulary)
        self.vocabulary_size = len(tokens)
        self.cls_id, self.sep_id = tokens.index("[CLS]"), tokens.index("[SEP]")
        self.pad_id = tokens.index("[PAD]")
        if backend == "keras_llm":
            from keras_llm import tokenizers  # pylint: disable=import-outside-toplevel
            self._encode = tokenizers.WordPieceTokenizer(vocabulary).encode
        elif backend == "huggingface":
            import tokenizers as hf  # pylint: disable=import-outside-toplevel
            tokenizer = hf.BertWordPieceTokenizer(str(vocabulary), lowercase=True)
            self._encode = lambda texts: [e.ids for e in tokenizer.encode_batch(
                    list(texts), add_special_tokens=False)]
        else:
            raise ValueError(f"host tokenizer backend must be keras_llm or huggingface, "
                             f"got {backend!r}.")

    def encode(self, texts: Sequence[str]) -> List[List[int]]:
        return self._encode(list(texts))

    def pack(self, texts: Sequence[str], sequence_length: int) -> List[List[int]]:
        return [data.pack(ids, sequence_length, self.cls_id, self.sep_id)
                for ids in self._encode(list(texts))]


# ---- model -----------------------------------------------------------------------------------
def build_classifier(config: config_lib.SentimentConfig, vocabulary_size: int,
                     vocabulary: Optional[str] = None):
    """A BertClassifier; `vocabulary` (path) is needed only to initialize embeddings."""
    model_config = config.model
    if model_config.kind == "minilm":
        backbone = models.BertBackbone.from_huggingface(
                paths.minilm_dir(), dropout=model_config.dropout)
    elif model_config.kind == "small":
        backbone = models.BertBackbone(
                vocabulary_size=vocabulary_size, num_layers=model_config.num_layers,
                num_heads=model_config.num_heads, hidden_dim=model_config.hidden_dim,
                intermediate_dim=model_config.intermediate_dim,
                max_sequence_length=model_config.max_sequence_length,
                dropout=model_config.dropout)
        if model_config.init_checkpoint:
            backbone.load_weights(model_config.init_checkpoint)
        if model_config.init_embeddings == "minilm_pca" and vocabulary is not None:
            init_embeddings_from_minilm(backbone, _read_lines(vocabulary))
        elif model_config.init_embeddings not in ("", "minilm_pca"):
            raise ValueError(f"model.init_embeddings must be '' or 'minilm_pca', got "
                             f"{model_config.init_embeddings!r}.")
    else:
        raise ValueError(f"model.kind must be 'minilm' or 'small', got {model_config.kind!r}.")
    if backbone.vocabulary_size != vocabulary_size:
        raise ValueError(f"Vocabulary has {vocabulary_size} tokens but the backbone expects "
                         f"{backbone.vocabulary_size}.")
    return models.BertClassifier(backbone, num_classes=len(config_lib.LABELS),
                                 dropout=model_config.dropout)


def load_workdir(workdir):
    """(config, vocabulary path, classifier with trained weights) of a training workdir."""
    workdir = pathlib.Path(workdir)
    if not (workdir / WEIGHTS_FILE).exists():
        raise ValueError(f"{workdir} holds no {WEIGHTS_FILE}; train first.")
    config = config_from_dict(json.loads((workdir / CONFIG_FILE).read_text()))
    vocabulary = str(workdir / VOCAB_FILE)
    model = build_classifier(config, len(_read_lines(vocabulary)))
    model.load_weights(workdir / WEIGHTS_FILE)
    return config, vocabulary, model


def config_from_dict(d: dict) -> config_lib.SentimentConfig:
    return config_lib.SentimentConfig(
            model=config_lib.ModelConfig(**d["model"]), train=config_lib.TrainConfig(**d["train"]),
            data_dir=d["data_dir"], sequence_length=d["sequence_length"])


# ---- losses ----------------------------------------------------------------------------------
def distillation_loss(weight: float):
    """y_true (B, 1 + C) = [label, teacher logits] -> (1-w) CE + w MSE on logits.

    Logit matching as in Tang et al. 2019, "Distilling task-specific knowledge from BERT".
    Rows whose teacher logits are NaN (not computed) get the plain CE loss."""
    def loss(y_true, y_pred):
        labels = tf.cast(y_true[:, 0], tf.int32)
        ce = keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=True)
        teacher = y_true[:, 1:]  # (B, C)
        has_teacher = tf.reduce_all(tf.math.is_finite(teacher), axis=-1)  # (B,)
        mse = tf.reduce_mean(tf.square(y_pred - tf.where(tf.math.is_finite(teacher), teacher,
                                                         0.0)), axis=-1)
        distilled = (1.0 - weight) * ce + weight * mse
        return tf.where(has_teacher, distilled, ce)
    return loss


def label_accuracy(y_true, y_pred):
    labels = tf.cast(y_true[:, 0], tf.int64)
    return tf.cast(tf.equal(tf.argmax(y_pred, axis=-1), labels), tf.float32)


# ---- training --------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="keras_llm")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak` over `warmup_steps`, then linear decay to 0 at
    `total_steps` (the BERT fine-tuning schedule)."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = tf.cast(self.warmup_steps, tf.float32)
        total = tf.cast(self.total_steps, tf.float32)
        up = step / tf.maximum(warmup, 1.0)
        down = (total - step) / tf.maximum(total - warmup, 1.0)
        return self.peak * tf.clip_by_value(tf.minimum(up, down), 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps}


def make_optimizer(train_config: config_lib.TrainConfig, total_steps: int):
    if train_config.lr_schedule == "linear":
        warmup = int(train_config.warmup_fraction * total_steps)  # 0 = start at the peak
        schedule = LinearWarmupDecay(train_config.learning_rate, warmup, total_steps)
    elif train_config.lr_schedule == "cosine":
        warmup = max(1, int(train_config.warmup_fraction * total_steps))
        schedule = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0, warmup_target=train_config.learning_rate,
                warmup_steps=warmup, decay_steps=max(1, total_steps - warmup))
    else:
        raise ValueError(f"train.lr_schedule must be 'cosine' or 'linear', got "
                         f"{train_config.lr_schedule!r}.")
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=train_config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def train_targets(train_config, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if not train_config.teacher_logits:
        return labels[rows]
    teacher = np.load(train_config.teacher_logits).astype(np.float32)  # (N, C)
    if teacher.shape != (len(labels), len(config_lib.LABELS)):
        raise ValueError(f"teacher_logits {train_config.teacher_logits} has shape "
                         f"{teacher.shape}, expected {(len(labels), len(config_lib.LABELS))}.")
    return np.concatenate([labels[:, None].astype(np.float32), teacher], axis=1)[rows]


def train(config: config_lib.SentimentConfig, workdir, host_tokenizer="keras_llm") -> dict:
    """Fine-tunes (or distils into) a classifier on SST-2 train; evaluates on dev.

    Writes the workdir files (see module docstring); returns the metrics dict.
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tc = config.train
    keras.utils.set_random_seed(tc.seed)
    texts, labels = data.read_tsv(data.sst2_dir(config.data_dir) / "train.tsv")
    rows = np.random.default_rng(tc.seed).permutation(len(texts))
    if not 0 <= tc.skip_examples < len(rows):
        raise ValueError(f"train.skip_examples={tc.skip_examples} must be in [0, {len(rows)}).")
    rows = rows[tc.skip_examples:]
    if tc.max_examples:
        rows = rows[:tc.max_examples]
    start = time.time()
    vocabulary = prepare_vocabulary(config, workdir, texts)
    (workdir / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(config), indent=2))
    encoder = HostEncoder(vocabulary, host_tokenizer)
    packed = encoder.pack([texts[r] for r in rows], config.sequence_length)
    batches = data.PaddedBatches(packed, train_targets(tc, labels, rows), tc.batch_size,
                                 config.sequence_length, encoder.pad_id, shuffle=True,
                                 seed=tc.seed)
    steps = tc.epochs * len(batches) if not tc.max_steps else tc.max_steps
    model = build_classifier(config, len(_read_lines(vocabulary)), vocabulary)
    if tc.init_weights:
        model.load_weights(tc.init_weights)
    if tc.freeze_token_embedding:
        model.backbone.token_embedding.trainable = False
    if tc.teacher_logits:
        loss, metrics = distillation_loss(tc.distill_weight), [label_accuracy]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=make_optimizer(tc, steps), loss=loss, metrics=metrics)
    epochs = tc.epochs if not tc.max_steps else 1
    steps_per_epoch = None if not tc.max_steps else min(tc.max_steps, len(batches))
    dataset = batches.dataset().repeat() if tc.max_steps else batches.dataset()
    # Weights after every epoch (epoch_1.weights.h5, ...): a cut run keeps its finished epochs.
    save_epochs = keras.callbacks.ModelCheckpoint(
            str(workdir / "epoch_{epoch}.weights.h5"), save_weights_only=True)
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=1,
              callbacks=[save_epochs])
    train_seconds = time.time() - start
    model.save_weights(workdir / WEIGHTS_FILE)
    metrics = evaluate_model(config, vocabulary, model, "dev", host_tokenizer)
    metrics.update(train_seconds=round(train_seconds, 1), train_examples=int(len(rows)),
                   train_steps=int(steps))
    (workdir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    logging.info("Metrics: %s", metrics)
    return metrics


# ---- evaluation and prediction ---------------------------------------------------------------
def predict_logits(config, vocabulary, model, texts: Sequence[str], host_tokenizer="keras_llm",
                   batch_size: int = 64, verbose: int = 1) -> np.ndarray:
    """Logits (N, C) for raw texts, tokenized on the host."""
    encoder = HostEncoder(vocabulary, host_tokenizer)
    packed = encoder.pack(texts, config.sequence_length)
    batches = data.PaddedBatches(packed, None, batch_size, config.sequence_length, encoder.pad_id)
    logits = model.predict(batches.dataset(), verbose=verbose)
    out = np.zeros_like(logits)
    out[batches.order()] = logits
    return out


def evaluate_model(config, vocabulary, model, split="dev", host_tokenizer="keras_llm") -> dict:
    texts, labels = data.read_tsv(data.sst2_dir(config.data_dir) / f"{split}.tsv")
    logits = predict_logits(config, vocabulary, model, texts, host_tokenizer)
    accuracy = float(np.mean(np.argmax(logits, axis=-1) == labels))
    return {f"{split}_accuracy": accuracy, f"{split}_examples": len(labels)}


def evaluate_saved_model(path, tsv_path, batch_size: int = 64) -> dict:
    """Accuracy of an exported SavedModel's `serving_default` on raw texts of a TSV."""
    texts, labels = data.read_tsv(tsv_path)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    predictions = []
    progress = keras.utils.Progbar(len(texts))
    for i in range(0, len(texts), batch_size):
        out = serve(text=tf.constant(texts[i:i + batch_size]))
        predictions.append(np.argmax(out["probabilities"].numpy(), axis=-1))
        progress.add(len(texts[i:i + batch_size]))
    accuracy = float(np.mean(np.concatenate(predictions) == labels))
    return {"accuracy": accuracy, "examples": len(labels)}


# ---- export ----------------------------------------------------------------------------------
def export_workdir(workdir, base_dir, version: Optional[int] = None, overwrite: bool = False,
                   serving_sequence_length: int = 128):
    """Exports a trained workdir as `<base_dir>/<version>/` (raw text in, core TF ops only).

    Serving truncates at `serving_sequence_length` tokens (capped by the model's positions).
    """
    from apps.sentiment import preprocessing  # pylint: disable=import-outside-toplevel
    from keras_llm import export  # pylint: disable=import-outside-toplevel
    config, vocabulary, model = load_workdir(workdir)
    length = min(serving_sequence_length, model.backbone.max_sequence_length)
    preprocessor = preprocessing.SentimentPreprocessor(vocabulary, length)
    module = export.TextClassifierModule(preprocessor, model, config_lib.LABELS)
    return export.export(module, base_dir, version=version, overwrite=overwrite)
