"""Words -> BERT tokens with word <-> token alignment, on host and in graph (token tasks: NER).

    preprocessor = BertWordPreprocessor("vocab.txt", sequence_length=128)
    batch = preprocessor(tf.constant([["Peter", "lives", "in", "Berlin", ""]]))  # graph
    batch = preprocessor.encode([["Peter", "lives", "in", "Berlin"]], tags=[[1, 0, 0, 5]])  # host
    words, starts, ends = preprocessor.split(tf.constant(["Peter lives in Berlin."]))

Each word is tokenized on its own and its pieces packed as `[CLS] pieces... [SEP]`. Every token
carries `word_ids`: the index of its word in the example's word list (-1 on [CLS]/[SEP]/
padding), and `first_subword`: 1 on the first piece of each word. Truncation keeps the first
T - 2 pieces and may cut a word in the middle: its later pieces are dropped, and it keeps its
prediction when its first piece survived. A word with no piece (empty, or only control
characters, which BERT drops) and a word cut off entirely get no prediction: their tag is -1 in
`word_predictions` ("O" once read back). With `tags` (one label id per word), `encode` also
returns `labels`: the word's label on its first piece and IGNORE (-100, skipped by the loss)
on every other token.

Both paths tokenize each word with the same WordPieceTokenizer and pack the same way, so the
host inputs used for training are the ones the exported graph computes
(tests/models/test_word_preprocessor.py). Shapes: B examples, W words, T tokens, C classes.
"""
from typing import Dict, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_llm import tokenizers
from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.bert.preprocessor import NO_OFFSET, BertPreprocessorBase
from keras_llm.tokenizers.words import WordSplitter

IGNORE = -100  # label of tokens the loss skips (as Hugging Face's ignore_index)
NO_WORD = NO_OFFSET  # word id of [CLS], [SEP] and padding
ALIGNMENT_KEYS = ("word_ids", "first_subword")


@keras.saving.register_keras_serializable(package="keras_llm")
class BertWordPreprocessor(BertPreprocessorBase):
    """Args: vocabulary (vocab.txt path or token list), sequence_length T (incl. specials)."""

    def __init__(self, vocabulary, sequence_length, lowercase=True, **kwargs):
        super().__init__(vocabulary, sequence_length, lowercase, **kwargs)
        self.word_packer = self.offset_packer  # packs word ids: -1 on specials and padding
        self.mask_packer = tokenizers.SegmentPacker(sequence_length, 0, 0, 0)
        self.splitter = WordSplitter()

    # ---- graph path ------------------------------------------------------------------------
    def split(self, texts):
        """Raw text (B,) -> CoNLL-style words, code-point starts/ends, ragged (B, None)."""
        return self.splitter.split(texts)

    def call(self, words) -> Dict[str, tf.Tensor]:
        """Words tf.string (B, W) ("" words get no token) or ragged (B, None) -> {token_ids,
        segment_ids, padding_mask, word_ids, first_subword} int32 (B, T'), T' the longest row."""
        if not isinstance(words, tf.RaggedTensor):
            words = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(words, tf.string))
        pieces = self.tokenizer.tokenize(words.flat_values)  # (all words, None)
        word_index = tf.range(tf.size(words.flat_values, out_type=tf.int64)) - tf.gather(
                words.row_starts(), words.value_rowids())  # index within its example
        piece_index = tf.range(tf.size(pieces.flat_values, out_type=tf.int64)) - tf.gather(
                pieces.row_starts(), pieces.value_rowids())  # index within its word

        def per_example(values):  # one value per piece -> (B, None) in token order
            per_word = tf.RaggedTensor.from_row_splits(
                    pieces.with_flat_values(values), words.row_splits, validate=False)
            return per_word.merge_dims(1, 2)
        word_ids = tf.cast(tf.gather(word_index, pieces.value_rowids()), tf.int32)
        packed = self.packer(per_example(pieces.flat_values))
        packed["word_ids"] = self.word_packer(per_example(word_ids))["token_ids"]
        packed["first_subword"] = self.mask_packer(
                per_example(tf.cast(piece_index == 0, tf.int32)))["token_ids"]
        mask = tf.cast(packed["padding_mask"], tf.int32)
        width = tf.maximum(tf.reduce_max(tf.reduce_sum(mask, axis=1)), 1)
        return {k: tf.cast(v, tf.int32)[:, :width] for k, v in packed.items()}

    # ---- host path -------------------------------------------------------------------------
    def split_host(self, texts: Sequence[str]):
        """Per text: (words, starts, ends) lists, as `split`."""
        return self.splitter.split_host(texts)

    def encode(self, words: Sequence[Sequence[str]],
               tags: Optional[Sequence[Sequence[int]]] = None) -> Dict[str, list]:
        """N word lists (and per word a label id) -> each key of `call` (and `labels`) a list
        of N int lists without padding."""
        if tags is not None and [len(t) for t in tags] != [len(w) for w in words]:
            raise ValueError("encode needs one tag per word in every example.")
        flat = [w for example in words for w in example]
        pieces = iter(self.tokenizer.encode(flat))
        keys = INPUT_KEYS + ALIGNMENT_KEYS + (() if tags is None else ("labels",))
        out = {k: [] for k in keys}
        budget = self.sequence_length - 2
        for i, example in enumerate(words):
            ids, word_ids, first, labels = [], [], [], []
            for w in range(len(example)):
                word_pieces = next(pieces)
                rest = len(word_pieces) - 1  # -1: a word without pieces adds nothing
                ids += word_pieces
                word_ids += [w] * len(word_pieces)
                first += ([1] + [0] * rest) if word_pieces else []
                if tags is not None:
                    labels += ([tags[i][w]] + [IGNORE] * rest) if word_pieces else []
            n = min(len(ids), budget)
            row = {"token_ids": [self.tokenizer.cls_token_id] + ids[:n]
                                + [self.tokenizer.sep_token_id],
                   "segment_ids": [0] * (n + 2), "padding_mask": [1] * (n + 2),
                   "word_ids": [NO_WORD] + word_ids[:n] + [NO_WORD],
                   "first_subword": [0] + first[:n] + [0],
                   "labels": [IGNORE] + labels[:n] + [IGNORE]}
            for key in keys:
                out[key].append(row[key])
        return out


def word_predictions(logits, word_ids, first_subword, num_words) -> tf.Tensor:
    """Graph: logits (B, T, C) -> the argmax class of each word's first piece, int32 (B, W)
    with W = num_words (a scalar); -1 for words without a piece in the sequence."""
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (B, T)
    first = tf.cast(first_subword, tf.bool) & (word_ids >= 0)
    where = tf.where(first)  # (F, 2): batch row, token
    index = tf.stack([where[:, 0], tf.cast(tf.gather_nd(word_ids, where), tf.int64)], axis=1)
    shape = tf.stack([tf.shape(word_ids, out_type=tf.int64)[0], tf.cast(num_words, tf.int64)])
    empty = tf.fill(shape, tf.constant(-1, tf.int32))
    return tf.tensor_scatter_nd_update(empty, index, tf.gather_nd(predicted, where))


def word_predictions_numpy(logits: np.ndarray, word_ids: Sequence[Sequence[int]],
                           first_subword: Sequence[Sequence[int]],
                           num_words: Sequence[int]) -> list:
    """Host: per example, the argmax class of each of its words' first piece (-1: none).
    `logits` (N, >= T_i, C); word_ids/first_subword unpadded lists as `encode` returns."""
    out = []
    for row, ids, first, n in zip(logits, word_ids, first_subword, num_words):
        tags = [-1] * n
        for t, (w, f) in enumerate(zip(ids, first)):
            if f and w >= 0:
                tags[w] = int(np.argmax(row[t]))
        out.append(tags)
    return out
