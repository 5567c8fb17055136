"""Tokenizers for training: build from the config, train a vocabulary into the workdir once.

`CharTokenizer` is a file-free stand-in (Unicode code points hashed into a small vocabulary)
for tests and tiny configs; real runs use `keras_llm.tokenizers` WordPiece or byte-level BPE.
All tokenizers are Keras layers mapping tf.string (B,) -> ragged int32 (B, None) in graph mode,
so they run inside `tf.data.Dataset.map`.
"""
import os
import pathlib
from typing import List

import keras
import tensorflow as tf
from absl import logging

from keras_llm.training.config import TokenizerConfig


@keras.saving.register_keras_serializable(package="keras_llm")
class CharTokenizer(keras.layers.Layer):
    """Code points folded into `vocabulary_size - 4` ids; ids 0-3 are [PAD] [CLS] [SEP] [MASK]."""

    def __init__(self, vocabulary_size=128, lowercase=True, **kwargs):
        super().__init__(dtype="int32", **kwargs)
        if vocabulary_size < 8:
            raise ValueError(f"vocabulary_size={vocabulary_size} must be >= 8.")
        self.vocabulary_size = vocabulary_size
        self.lowercase = lowercase
        self.pad_token_id, self.cls_token_id, self.sep_token_id, self.mask_token_id = 0, 1, 2, 3
        self.unk_token_id = None

    def call(self, strings):
        if self.lowercase:
            strings = tf.strings.lower(strings, encoding="utf-8")
        points = tf.strings.unicode_decode(strings, "UTF-8", errors="replace")
        return tf.cast(points % (self.vocabulary_size - 4) + 4, tf.int32)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, lowercase=self.lowercase)
        return config


def special_token_ids(tokenizer) -> dict:
    """{"pad","start","end","mask"} ids; GPT-style BPE has no [CLS]/[SEP], it uses <|endoftext|>."""
    cls_id = getattr(tokenizer, "cls_token_id", None)
    if cls_id is not None:
        return {"pad": tokenizer.pad_token_id, "start": cls_id, "end": tokenizer.sep_token_id,
                "mask": getattr(tokenizer, "mask_token_id", None)}
    eos = _first_attr(tokenizer, ("end_token_id", "eos_token_id", "endoftext_token_id"))
    if eos is None:
        eos = tokenizer.token_to_id("<|endoftext|>")
    pad = getattr(tokenizer, "pad_token_id", None)
    return {"pad": eos if pad is None else pad, "start": eos, "end": eos, "mask": None}


def _first_attr(obj, names):
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def build_tokenizer(config: TokenizerConfig, workdir: str, texts_fn):
    """Returns the tokenizer layer; trains and saves a vocabulary under workdir/vocab if needed.

    `texts_fn()` yields training texts; it is only called when a vocabulary must be trained.
    """
    if config.kind == "char":
        return CharTokenizer(vocabulary_size=config.vocabulary_size, lowercase=config.lowercase)
    from keras_llm import tokenizers  # pylint: disable=import-outside-toplevel
    vocab_dir = pathlib.Path(workdir) / "vocab"
    if config.kind == "wordpiece":
        path = config.vocabulary or str(vocab_dir / "vocab.txt")
        if not os.path.exists(path):
            if config.vocabulary:
                raise ValueError(f"tokenizer.vocabulary={path!r} does not exist.")
            logging.info("Training a %d-token WordPiece vocabulary.", config.vocabulary_size)
            vocab = tokenizers.train_wordpiece_vocabulary(
                    list(texts_fn()), config.vocabulary_size, lowercase=config.lowercase)
            _atomic_write(path, "".join(t + "\n" for t in vocab))
        return tokenizers.WordPieceTokenizer(path, lowercase=config.lowercase)
    vocab_path = config.vocabulary or str(vocab_dir / "vocab.json")
    merges_path = config.merges or str(vocab_dir / "merges.txt")
    if not os.path.exists(vocab_path):
        if config.vocabulary:
            raise ValueError(f"tokenizer.vocabulary={vocab_path!r} does not exist.")
        logging.info("Training a %d-token byte-level BPE vocabulary.", config.vocabulary_size)
        vocab, merges = tokenizers.train_bpe(list(texts_fn()), config.vocabulary_size)
        # Merges first, vocab last: an existing vocab.json marks a complete pair of files.
        tmp_dir = f"{vocab_dir}.tmp-{os.getpid()}"
        tmp_vocab, tmp_merges = tokenizers.save_bpe(vocab, merges, tmp_dir)
        os.makedirs(os.path.dirname(vocab_path), exist_ok=True)
        os.replace(tmp_merges, merges_path)
        os.replace(tmp_vocab, vocab_path)
        os.rmdir(tmp_dir)
    return tokenizers.BytePairTokenizer(vocab_path, merges_path)



def _atomic_write(path: str, text: str) -> None:
    """Write-then-rename so a killed run never leaves half a vocabulary behind."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def vocabulary_size(tokenizer) -> int:
    size = getattr(tokenizer, "vocabulary_size", None)
    size = size() if callable(size) else size
    if not isinstance(size, int) or size <= 0:
        raise TypeError(f"Tokenizer {type(tokenizer).__name__} has no usable vocabulary_size.")
    return size


def read_lines(paths: List[str]):
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield line.rstrip("\n")
