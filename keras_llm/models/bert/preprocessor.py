"""BERT text preprocessing: one text or a text pair -> backbone inputs, on host and in graph.

    preprocessor = BertTextPreprocessor("vocab.txt", sequence_length=128)
    preprocessor(tf.constant(["a film"]))                      # in graph, core TF ops only
    preprocessor((questions, contexts))                         # pairs: [CLS] a [SEP] b [SEP]
    preprocessor.encode(["a film"])                             # host: the same ids, as lists

Both paths share `SegmentPacker` (longest-first truncation, as Hugging Face), so the host ids
used for training are the ids the exported graph computes. `call_with_offsets` also packs each
token's code-point offsets into its own text (-1 on [CLS]/[SEP]/padding), which span and token
tasks carry to their outputs. In-graph outputs are cut to the batch's longest row (dynamic
padding). Shapes: B batch, T tokens.
"""
from typing import Dict, List, Sequence, Union

import keras
import tensorflow as tf

from keras_llm import tokenizers
from keras_llm.models.bert.backbone import INPUT_KEYS

NO_OFFSET = -1


class BertPreprocessorBase(keras.layers.Layer):
    """What every BERT preprocessor holds: the WordPiece tokenizer, the id packer and the
    offset packer (`wordpiece_packers`); subclasses add their inputs and outputs."""

    def __init__(self, vocabulary, sequence_length, lowercase=True, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if sequence_length < 3:
            raise ValueError(f"sequence_length must be >= 3, got {sequence_length}.")
        self.tokenizer, self.packer, self.offset_packer = wordpiece_packers(
                vocabulary, sequence_length, lowercase)
        self.vocabulary = self.tokenizer.get_vocabulary()
        self.sequence_length = sequence_length
        self.lowercase = lowercase

    def build(self, input_shape=None):
        self.built = True  # no weights: the vocabulary tables live in the tokenizer

    @property
    def pad_token_id(self) -> int:
        return self.tokenizer.pad_token_id

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=self.vocabulary, sequence_length=self.sequence_length,
                      lowercase=self.lowercase)
        return config


@keras.saving.register_keras_serializable(package="keras_llm")
class BertTextPreprocessor(BertPreprocessorBase):
    """Args: vocabulary (vocab.txt path or token list), sequence_length (incl. specials)."""

    # ---- graph path ------------------------------------------------------------------------
    def call(self, inputs) -> Dict[str, tf.Tensor]:
        """tf.string (B,) or a pair of them -> {token_ids, segment_ids, padding_mask} (B, T)."""
        segments = _segments(inputs)
        return _cut(self.packer([self.tokenizer(s) for s in segments]))

    def call_with_offsets(self, inputs) -> Dict[str, tf.Tensor]:
        """As `call`, plus `token_starts`/`token_ends` int32 (B, T) into each token's text."""
        pieces = [self.tokenizer.tokenize_with_offsets(s) for s in _segments(inputs)]
        packed = self.packer([ids for ids, _, _ in pieces])
        packed["token_starts"] = self.offset_packer([starts for _, starts, _ in pieces])[
                "token_ids"]
        packed["token_ends"] = self.offset_packer([ends for _, _, ends in pieces])["token_ids"]
        return _cut(packed)

    # ---- host path -------------------------------------------------------------------------
    def encode(self, texts: Union[Sequence[str], Sequence[Sequence[str]]]) -> Dict[str, list]:
        """Host tokenization of N texts (or N pairs as a tuple of two lists) -> each key a list
        of N int lists without padding (batches pad them; see keras_llm.finetune)."""
        segments = [list(s) for s in texts] if isinstance(texts, tuple) else [list(texts)]
        if len(segments) not in (1, 2):
            raise ValueError(f"encode takes texts or a (first, second) pair, got "
                             f"{len(segments)} segment lists.")
        ids = [tf.ragged.constant(self.tokenizer.encode(s), dtype=tf.int32,
                                  row_splits_dtype=tf.int64) for s in segments]
        packed = {k: v.numpy() for k, v in self.packer(ids).items()}
        lengths = packed["padding_mask"].sum(axis=1)
        return {k: [row[:n].tolist() for row, n in zip(packed[k], lengths)] for k in INPUT_KEYS}


def wordpiece_packers(vocabulary, sequence_length: int, lowercase: bool = True):
    """(WordPieceTokenizer, packer of ids `[CLS] a [SEP] (b [SEP])`, packer of offsets with -1
    on specials and padding): the pieces every BERT preprocessor packs with."""
    tokenizer = tokenizers.WordPieceTokenizer(vocabulary, lowercase=lowercase)
    packer = tokenizers.SegmentPacker(sequence_length, start_value=tokenizer.cls_token_id,
                                      end_value=tokenizer.sep_token_id,
                                      pad_value=tokenizer.pad_token_id)
    offset_packer = tokenizers.SegmentPacker(sequence_length, start_value=NO_OFFSET,
                                             end_value=NO_OFFSET, pad_value=NO_OFFSET)
    return tokenizer, packer, offset_packer


def _segments(inputs) -> List[tf.Tensor]:
    segments = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    if len(segments) not in (1, 2):
        raise ValueError(f"BertTextPreprocessor takes one text or a pair, got {len(segments)}.")
    return [tf.convert_to_tensor(s, tf.string) for s in segments]


def _cut(packed: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Every (B, sequence_length) int output cut to the longest row (at least 1 column)."""
    mask = tf.cast(packed["padding_mask"], tf.int32)
    width = tf.maximum(tf.reduce_max(tf.reduce_sum(mask, axis=1)), 1)
    return {k: tf.cast(v, tf.int32)[:, :width] for k, v in packed.items()}

