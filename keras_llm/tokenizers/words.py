"""Raw text -> words split the way CoNLL-2003 is, with code-point offsets, on host and in graph.

    splitter = WordSplitter()
    words, starts, ends = splitter.split(tf.constant(["U.S. officials met in Paris."]))
    # words [[b"U.S.", b"officials", b"met", b"in", b"Paris", b"."]], ends exclusive
    splitter.split_host(["U.S. officials met in Paris."])     # the same, as Python lists

Rules, one code point at a time (classes from the shared `bert_normalization` table, without
lowercasing or accent stripping, so the word boundaries are the ones BERT's tokenizer sees):
- whitespace separates words; each punctuation mark or CJK ideograph is a word of its own,
- except the joiners that CoNLL keeps inside a token: `. - ' ’ & /` between two word
  characters ("U.S", "1996-08-22", "O'Neill", "AT&T"), `, :` between two ASCII digits
  ("1,000", "10:30"),
- and the final "." of an acronym: a "." after a word character (not a digit) that follows a
  joined "." ("U.S." but "Paris ." and "3.5 .").
Control and format characters (which BERT drops) count as word characters here: a word made of
them only gets no token, and so no prediction (see word_preprocessor.py).
Offsets are code-point positions in the text (end exclusive). Both paths read the same table
and apply the same rules (tests/tokenizers/test_words.py checks them word for word).
Shapes: B texts, N code points of the batch, W words of the batch.
"""
import bisect
from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from keras_llm.tokenizers import bert_normalization as bn

WORD, SPLIT, SPACE = bn.WORD, bn.SPLIT, bn.SPACE
JOINERS = ".-'\u2019&/"  # joined between two word characters
DIGIT_JOINERS = ",:"  # joined between two ASCII digits
_DOT = ord(".")


def _codes(chars: str) -> np.ndarray:
    return np.array([ord(c) for c in chars], np.int32)


class WordSplitter:
    """See the module docstring. Stateless apart from the class table (no variables)."""

    def __init__(self):
        table = bn.build_table(False, False)  # no lowercasing/stripping: one code point each
        self._starts = table.starts
        # DROP (control/format) characters are word characters for splitting.
        self._classes = np.where(table.cls == bn.DROP, WORD, table.cls).astype(np.int32)
        self._starts_list = self._starts.tolist()
        self._classes_list = self._classes.tolist()

    # ---- graph path ------------------------------------------------------------------------
    def split(self, texts) -> Tuple[tf.RaggedTensor, tf.RaggedTensor, tf.RaggedTensor]:
        """tf.string (B,) -> (words tf.string, starts int32, ends int32), ragged (B, None)."""
        texts = tf.convert_to_tensor(texts, tf.string)
        cps = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")  # (B, None)
        flat, rows = cps.flat_values, cps.value_rowids()  # (N,)
        pos = tf.range(tf.size(flat, out_type=tf.int64)) - tf.gather(cps.row_starts(), rows)
        length = tf.gather(cps.row_lengths(), rows)
        index = tf.searchsorted(tf.constant(self._starts), flat, side="right") - 1
        cls = _word_classes(flat, tf.gather(tf.constant(self._classes), index), pos, length)
        keep = cls != SPACE
        prev_cls = _shift(cls, 1, pos >= 1, SPACE)
        start = keep & ((cls == SPLIT) | (prev_cls != WORD))
        word_of = tf.boolean_mask(tf.cumsum(tf.cast(start, tf.int64)) - 1, keep)  # kept chars
        n_words = tf.reduce_sum(tf.cast(start, tf.int64))
        chars = tf.RaggedTensor.from_value_rowids(tf.boolean_mask(flat, keep), word_of,
                                                  nrows=n_words, validate=False)  # (W, None)
        words = tf.strings.unicode_encode(chars, "UTF-8")  # (W,)
        starts = tf.boolean_mask(pos, start)
        ends = tf.math.unsorted_segment_max(tf.boolean_mask(pos, keep), word_of, n_words) + 1
        word_rows = tf.boolean_mask(rows, start)
        nrows = tf.shape(texts, out_type=tf.int64)[0]

        def ragged(values):
            return tf.RaggedTensor.from_value_rowids(values, word_rows, nrows=nrows,
                                                     validate=False)
        return ragged(words), ragged(tf.cast(starts, tf.int32)), ragged(tf.cast(ends, tf.int32))

    # ---- host path -------------------------------------------------------------------------
    def split_host(self, texts: Sequence[str]) -> List[Tuple[List[str], List[int], List[int]]]:
        """Per text: (words, starts, ends) as Python lists."""
        if isinstance(texts, str):
            raise TypeError("split_host expects a list of str, got a single str")
        return [self._split_text(text) for text in texts]

    def _class(self, ch: str) -> int:
        return self._classes_list[bisect.bisect_right(self._starts_list, ord(ch)) - 1]

    def _split_text(self, text: str):
        cps = [ord(c) for c in text]
        base = [self._class(c) for c in text]
        cls = _word_classes_host(cps, base)
        words, starts, ends = [], [], []
        for p, c in enumerate(cls):
            if c == SPACE:
                continue
            if c == SPLIT or p == 0 or cls[p - 1] != WORD:
                words.append(text[p])
                starts.append(p)
                ends.append(p + 1)
            else:
                words[-1] += text[p]
                ends[-1] = p + 1
        return words, starts, ends


def _shift(values, by, valid, fill):
    """values[i - by] (by > 0) or values[i + |by|] (by < 0) where `valid`, else `fill`."""
    fill = tf.fill([abs(by)], tf.constant(fill, values.dtype))
    shifted = (tf.concat([fill, values[:-by]], 0) if by > 0
               else tf.concat([values[-by:], fill], 0))
    shifted = shifted[:tf.size(values)]  # inputs shorter than `by`
    return tf.where(valid, shifted, fill[0])


def _is_digit(cps):
    return (cps >= ord("0")) & (cps <= ord("9"))


def _word_classes(cps, cls, pos, length):
    """Graph: the classes after the joiner and acronym rules (WORD, SPLIT or SPACE), (N,)."""
    has_prev, has_next = pos >= 1, pos + 1 < length
    prev_word = _shift(cls, 1, has_prev, SPACE) == WORD
    next_word = _shift(cls, -1, has_next, SPACE) == WORD
    prev_cp = _shift(cps, 1, has_prev, 0)
    next_cp = _shift(cps, -1, has_next, 0)
    is_split = cls == SPLIT
    joiner = tf.reduce_any(cps[:, None] == _codes(JOINERS)[None, :], axis=1)
    digit_joiner = tf.reduce_any(cps[:, None] == _codes(DIGIT_JOINERS)[None, :], axis=1)
    joined = is_split & ((joiner & prev_word & next_word)
                         | (digit_joiner & _is_digit(prev_cp) & _is_digit(next_cp)))
    joined_dot_before = _shift(joined & (cps == _DOT), 2, pos >= 2, False)
    acronym = (is_split & (cps == _DOT) & ~joined & prev_word & ~_is_digit(prev_cp)
               & joined_dot_before)
    return tf.where(joined | acronym, WORD, cls)


def _word_classes_host(cps: List[int], cls: List[int]) -> List[int]:
    """Host mirror of `_word_classes` for one text."""
    n = len(cps)

    def digit(i):
        return 0 <= i < n and ord("0") <= cps[i] <= ord("9")

    def word(i):
        return 0 <= i < n and cls[i] == WORD
    joined = [cls[i] == SPLIT and (
              (chr(cps[i]) in JOINERS and word(i - 1) and word(i + 1))
              or (chr(cps[i]) in DIGIT_JOINERS and digit(i - 1) and digit(i + 1)))
              for i in range(n)]
    out = list(cls)
    for i in range(n):
        acronym = (cls[i] == SPLIT and cps[i] == _DOT and not joined[i] and word(i - 1)
                   and not digit(i - 1) and i >= 2 and joined[i - 2] and cps[i - 2] == _DOT)
        if joined[i] or acronym:
            out[i] = WORD
    return out
