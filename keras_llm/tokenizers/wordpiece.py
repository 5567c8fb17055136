"""BERT WordPiece tokenizer in core TensorFlow ops, with an identical pure-Python host path.

Shapes: B batch of strings, N code points in the batch, W words in the batch, P pieces (tokens)
in the batch, L candidate piece lengths per step.

Pipeline (both paths): per code point, the shared `bert_normalization` table gives the
normalized code points and their class (word / split / space / drop); words are maximal runs of
WORD code points, each SPLIT code point is a word of its own; each word becomes greedy
longest-match-first WordPiece pieces ("##" marks continuations), or one unknown token when no
split exists or it has more than `max_input_chars_per_word` code points. Offsets are code-point
positions in the ORIGINAL string (end exclusive): a piece covers the original characters its
first and last normalized code points came from.
"""
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_llm.tokenizers import bert_normalization as bn

_CACHE_LIMIT = 500_000  # entries per host cache; cleared when full


def load_vocabulary(vocabulary):
    """A list of tokens from a vocab.txt path (one token per line) or a list/tuple of str."""
    if isinstance(vocabulary, (str, os.PathLike)):
        path = os.fspath(vocabulary)
        if not os.path.isfile(path):
            raise ValueError(f"vocabulary file {path!r} does not exist")
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\r\n") for line in f]
        while tokens and not tokens[-1]:
            tokens.pop()  # trailing empty lines
        return tokens
    if isinstance(vocabulary, (list, tuple)) and all(isinstance(t, str) for t in vocabulary):
        return list(vocabulary)
    raise TypeError(f"vocabulary must be a vocab.txt path or a list of str, got {type(vocabulary)}")


def _write_vocabulary(tokens):
    """Write tokens to a fresh vocab.txt (saved as the SavedModel asset) and return its path."""
    for t in tokens:
        if "\n" in t or "\r" in t:
            raise ValueError(f"vocabulary token {t!r} contains a line break")
    if len(set(tokens)) != len(tokens):
        dup = sorted({t for t in tokens if tokens.count(t) > 1})[:5]
        raise ValueError(f"vocabulary has duplicate tokens, e.g. {dup}")
    path = os.path.join(tempfile.mkdtemp(prefix="keras_llm_vocab_"), "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    return path


@keras.saving.register_keras_serializable(package="keras_llm")
class WordPieceTokenizer(keras.layers.Layer):
    """BERT WordPiece tokenizer; graph mode uses core TF ops only, host mode pure Python.

    Args:
        vocabulary: path to a vocab.txt or a list of tokens (id = position).
        lowercase: lowercase the text (uncased models).
        strip_accents: NFD-decompose and drop non-spacing marks; None follows `lowercase`
            (like BERT / Hugging Face).
        unk_token: token for words without a WordPiece split.
        suffix_indicator: prefix of continuation pieces.
        max_input_chars_per_word: longer words (in normalized code points) become `unk_token`.
    """

    def __init__(self, vocabulary, lowercase=True, strip_accents=None, unk_token="[UNK]",
                 suffix_indicator="##", max_input_chars_per_word=100, **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.vocabulary = load_vocabulary(vocabulary)
        self.lowercase = bool(lowercase)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.unk_token = unk_token
        self.suffix_indicator = suffix_indicator
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self._token_to_id = {t: i for i, t in enumerate(self.vocabulary)}
        if unk_token not in self._token_to_id:
            raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
        self._unk_id = self._token_to_id[unk_token]
        self._max_piece_chars = max(
                len(t[len(suffix_indicator):] if t.startswith(suffix_indicator) else t)
                for t in self.vocabulary)
        self._table = bn.build_table(self.lowercase, self._strip)
        self._char_cache, self._chunk_cache, self._word_cache = {}, {}, {}
        self._build_graph_tables()

    @property
    def _strip(self):
        return self.lowercase if self.strip_accents is None else self.strip_accents

    def _build_graph_tables(self):
        # The vocabulary lives in an asset file so that SavedModels carry it in assets/.
        self._vocab_path = _write_vocabulary(self.vocabulary)
        init = tf.lookup.TextFileInitializer(
                self._vocab_path, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
        self._vocab_table = tf.lookup.StaticHashTable(init, default_value=-1)
        self._id_to_token_table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                        self._vocab_path, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                        tf.string, tf.lookup.TextFileIndex.WHOLE_LINE), default_value="")

    # ----------------------------------------------------------------------------- properties
    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def get_vocabulary(self):
        return list(self.vocabulary)

    def token_to_id(self, token):
        if token not in self._token_to_id:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return self._token_to_id[token]

    def id_to_token(self, token_id):
        if not 0 <= int(token_id) < len(self.vocabulary):
            raise ValueError(f"token id {token_id} is outside [0, {len(self.vocabulary)})")
        return self.vocabulary[int(token_id)]

    def _special(self, token):
        return self._token_to_id.get(token)

    @property
    def cls_token_id(self):
        return self._special("[CLS]")

    @property
    def sep_token_id(self):
        return self._special("[SEP]")

    @property
    def pad_token_id(self):
        return self._special("[PAD]")

    @property
    def mask_token_id(self):
        return self._special("[MASK]")

    @property
    def unk_token_id(self):
        return self._unk_id

    def get_config(self):
        config = super().get_config()
        config.update({
                "vocabulary": list(self.vocabulary),
                "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "unk_token": self.unk_token,
                "suffix_indicator": self.suffix_indicator,
                "max_input_chars_per_word": self.max_input_chars_per_word,
        })
        return config

    # ----------------------------------------------------------------------------- host path
    def encode(self, texts):
        """list[str] -> list[list[int]] (pure Python, cached)."""
        return self.encode_with_offsets(texts)[0]

    def encode_with_offsets(self, texts):
        """list[str] -> (ids, starts, ends), each a list of int lists; offsets in code points."""
        if isinstance(texts, str):
            raise TypeError("encode expects a list of str, got a single str")
        ids, starts, ends = [], [], []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"encode expects str items, got {type(text)}: {text!r}")
            i, s, e = self._encode_text(text)
            ids.append(i)
            starts.append(s)
            ends.append(e)
        return ids, starts, ends

    def decode(self, ids):
        """list[list[int]] -> list[str]: pieces joined by spaces, continuations glued."""
        out = []
        for row in ids:
            text = " ".join(self.id_to_token(i) for i in row)
            out.append(text.replace(" " + self.suffix_indicator, ""))
        return out

    def _encode_text(self, text):
        ids, starts, ends = [], [], []
        offset = 0
        # U+0020 always separates words, so each space-free chunk is tokenized (and cached) alone.
        for chunk in text.split(" "):
            if chunk:
                pieces = self._chunk_cache.get(chunk)
                if pieces is None:
                    pieces = self._cache_put(self._chunk_cache, chunk, self._encode_chunk(chunk))
                for token_id, s, e in pieces:
                    ids.append(token_id)
                    starts.append(s + offset)
                    ends.append(e + offset)
            offset += len(chunk) + 1
        return ids, starts, ends

    @staticmethod
    def _cache_put(cache, key, value):
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value
        return value

    def _char_expansion(self, ch):
        exp = self._char_cache.get(ch)
        if exp is None:
            exp = self._char_cache[ch] = self._table.lookup(ord(ch))
        return exp

    def _split_words(self, chunk):
        """[(normalized word, [original position of each of its code points]), ...]."""
        words, chars, pos = [], [], []
        for p, ch in enumerate(chunk):
            for ncp, cls in self._char_expansion(ch):
                if cls == bn.WORD:
                    chars.append(chr(ncp))
                    pos.append(p)
                    continue
                if chars:
                    words.append(("".join(chars), pos))
                    chars, pos = [], []
                if cls == bn.SPLIT:
                    words.append((chr(ncp), [p]))
        if chars:
            words.append(("".join(chars), pos))
        return words

    def _encode_chunk(self, chunk):
        out = []
        for word, pos in self._split_words(chunk):
            pieces = self._word_cache.get(word)
            if pieces is None:
                pieces = self._cache_put(self._word_cache, word, self._wordpiece(word))
            for token_id, s, n in pieces:
                out.append((token_id, pos[s], pos[s + n - 1] + 1))
        return tuple(out)

    def _wordpiece(self, word):
        """Greedy longest-match-first: [(id, start, length)] in normalized code points."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return ((self._unk_id, 0, n),)
        pieces, start = [], 0
        while start < n:
            end = min(n, start + self._max_piece_chars)
            prefix = self.suffix_indicator if start > 0 else ""
            while end > start and prefix + word[start:end] not in self._token_to_id:
                end -= 1
            if end == start:
                return ((self._unk_id, 0, n),)
            pieces.append((self._token_to_id[prefix + word[start:end]], start, end - start))
            start = end
        return tuple(pieces)

    # ----------------------------------------------------------------------------- graph path
    def call(self, inputs):
        """tf.string (B,) -> int32 ragged (B, None); a scalar string -> int32 (None,)."""
        return self.tokenize_with_offsets(inputs)[0]

    def tokenize(self, inputs):
        return self.tokenize_with_offsets(inputs)[0]

    def tokenize_with_offsets(self, inputs):
        """tf.string (B,) -> (ids, starts, ends), int32 ragged (B, None) each."""
        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        if inputs.shape.rank == 0:
            ids, starts, ends = self._tokenize_batch(inputs[tf.newaxis])
            return ids[0], starts[0], ends[0]
        if inputs.shape.rank != 1:
            raise ValueError(f"WordPieceTokenizer expects a scalar or (B,) string tensor, "
                             f"got shape {inputs.shape}")
        return self._tokenize_batch(inputs)

    def _tokenize_batch(self, inputs):
        cps = tf.strings.unicode_decode(inputs, "UTF-8", errors="replace")  # (B, None)
        n_rows = tf.shape(inputs, out_type=tf.int64)[0]
        rows = cps.value_rowids()
        orig_pos = tf.range(tf.size(cps.flat_values, out_type=tf.int64)) - tf.gather(
                cps.row_starts(), rows)
        ncp, cls, src = self._normalize(cps.flat_values)
        words = self._split_words_graph(ncp, cls, tf.gather(rows, src), tf.gather(orig_pos, src))
        word_chars, word_row, word_orig = words
        w, token_id, start, length = self._wordpiece_graph(word_chars)
        first = tf.gather(word_chars.row_starts(), w) + start
        starts = tf.gather(word_orig, first)
        ends = tf.gather(word_orig, first + length - 1) + 1
        tok_rows = tf.gather(word_row, w)

        def ragged(values):
            return tf.RaggedTensor.from_value_rowids(
                    tf.cast(values, tf.int32), tok_rows, nrows=n_rows, validate=False)
        return ragged(token_id), ragged(starts), ragged(ends)

    def _normalize(self, cps):
        """(N,) code points -> normalized code points, classes, source index, each (N2,)."""
        t = self._table
        r = self._range_index(cps)
        cls = tf.gather(tf.constant(t.cls), r)
        multi = tf.gather(tf.constant(t.multi), r)
        single = cps + tf.gather(tf.constant(t.delta), r)
        is_multi = multi >= 0
        is_drop = (cls == bn.DROP) & ~is_multi

        def identity():
            return single, cls, tf.range(tf.size(cps, out_type=tf.int64))

        def drop_only():
            src = tf.where(~is_drop)[:, 0]
            return tf.gather(single, src), tf.gather(cls, src), src

        def expand():
            return self._expand(cps, cls, multi, single, is_multi)

        # Most text has no multi-code-point expansions and no dropped characters: skip work.
        return tf.cond(tf.reduce_any(is_multi), expand,
                       lambda: tf.cond(tf.reduce_any(is_drop), drop_only, identity))

    def _range_index(self, cps):
        """Index of the table range holding each code point: a dense lookup for the Basic
        Multilingual Plane (a 64 K int16 constant, much faster than a binary search), and a
        binary search only when the batch has code points above U+FFFF."""
        starts = tf.constant(self._table.starts)
        bmp = np.searchsorted(self._table.starts, np.arange(0x10000), side="right") - 1
        dense = tf.constant(bmp.astype(np.int16 if bmp.max() < 2**15 else np.int32))
        in_bmp = tf.cast(tf.gather(dense, tf.minimum(cps, 0xFFFF)), tf.int32)
        return tf.cond(tf.reduce_any(cps > 0xFFFF),
                       lambda: tf.searchsorted(starts, cps, side="right") - 1,
                       lambda: in_bmp)

    def _expand(self, cps, cls, multi, single, is_multi):
        """General case of `_normalize`: each code point becomes 0..K code points."""
        t = self._table
        multi_cps, multi_cls, multi_len = t.multi_cps, t.multi_cls, t.multi_len
        if multi_len.size == 0:  # keep gathers valid
            multi_cps, multi_cls = np.zeros((1, 1), np.int32), np.full((1, 1), bn.DROP, np.int32)
            multi_len = np.zeros((1,), np.int32)
        multi = tf.maximum(multi, 0)
        length = tf.where(is_multi, tf.gather(tf.constant(multi_len), multi),
                          tf.cast(cls != bn.DROP, tf.int32))
        src = tf.repeat(tf.range(tf.size(cps, out_type=tf.int64)), tf.cast(length, tf.int64))
        first = tf.cumsum(tf.cast(length, tf.int64), exclusive=True)
        within = tf.range(tf.size(src, out_type=tf.int64)) - tf.gather(first, src)
        src_multi = tf.gather(is_multi, src)
        index = tf.stack([tf.gather(tf.cast(multi, tf.int64), src), within], axis=1)
        out_cp = tf.where(src_multi, tf.gather_nd(tf.constant(multi_cps), index),
                          tf.gather(single, src))
        out_cls = tf.where(src_multi, tf.gather_nd(tf.constant(multi_cls), index),
                           tf.gather(cls, src))
        return out_cp, out_cls, src

    @staticmethod
    def _split_words_graph(ncp, cls, rows, orig):
        """Group normalized code points into words: ragged (W, None) chars, (W,) row, orig pos."""
        prev_cls = tf.concat([[bn.SPACE], cls[:-1]], axis=0)
        prev_row = tf.concat([[-1], rows[:-1]], axis=0)
        is_start = ((rows != prev_row) | (cls == bn.SPLIT) | (prev_cls == bn.SPLIT)
                    | (prev_cls == bn.SPACE))
        keep = cls != bn.SPACE
        is_start = tf.boolean_mask(is_start, keep)
        word_id = tf.cumsum(tf.cast(is_start, tf.int64)) - 1
        n_words = tf.reduce_sum(tf.cast(is_start, tf.int64))
        chars = tf.RaggedTensor.from_value_rowids(
                tf.boolean_mask(ncp, keep), word_id, nrows=n_words, validate=False)
        kept_rows = tf.boolean_mask(rows, keep)
        return chars, tf.gather(kept_rows, chars.row_starts()), tf.boolean_mask(orig, keep)

    def _wordpiece_graph(self, word_chars):
        """Ragged (W, None) code points -> pieces (P,): word index, id, start, length."""
        words = tf.strings.unicode_encode(word_chars, "UTF-8")  # (W,)
        n_chars = word_chars.row_lengths()
        n_words = tf.size(words, out_type=tf.int64)
        whole_id = self._vocab_table.lookup(words)
        too_long = n_chars > self.max_input_chars_per_word
        is_whole = (whole_id >= 0) & ~too_long
        todo = tf.where(~is_whole & ~too_long)[:, 0]
        loop_w, loop_k, loop_id, loop_start, loop_len = self._greedy_loop(
                tf.gather(words, todo), tf.gather(n_chars, todo), todo)
        # A step without a hit (length 0) makes the whole word one unknown token.
        failed = tf.boolean_mask(loop_w, loop_len == 0)
        is_failed = tf.scatter_nd(failed[:, tf.newaxis], tf.ones_like(failed, tf.bool),
                                  [n_words])
        ok = ~tf.gather(is_failed, loop_w)
        single = tf.where(is_whole | too_long | is_failed)[:, 0]
        single_id = tf.where(tf.gather(is_whole, single), tf.gather(whole_id, single),
                             tf.constant(self._unk_id, tf.int64))
        w = tf.concat([single, tf.boolean_mask(loop_w, ok)], 0)
        k = tf.concat([tf.zeros_like(single), tf.boolean_mask(loop_k, ok)], 0)
        token_id = tf.concat([single_id, tf.boolean_mask(loop_id, ok)], 0)
        start = tf.concat([tf.zeros_like(single), tf.boolean_mask(loop_start, ok)], 0)
        length = tf.concat([tf.gather(n_chars, single), tf.boolean_mask(loop_len, ok)], 0)
        # Order pieces by (word, piece index): destination = pieces before the word + k.
        counts = tf.math.unsorted_segment_sum(tf.ones_like(w), w, n_words)
        dest = tf.gather(tf.cumsum(counts, exclusive=True), w) + k
        order = tf.math.invert_permutation(dest)
        return [tf.gather(x, order) for x in (w, token_id, start, length)]

    def _greedy_loop(self, words, n_chars, word_index):
        """Vectorised greedy longest-match over words not in the vocabulary as a whole.

        Step k emits piece k of every still-active word: all candidate lengths 1..L from the
        current position are looked up at once and the longest hit wins. A word with no hit
        fails (it becomes one unknown token; its earlier pieces are dropped by the caller).
        """
        suffix = self.suffix_indicator
        vocab, max_piece = self._vocab_table, self._max_piece_chars
        arrays = [tf.TensorArray(tf.int64, size=0, dynamic_size=True, infer_shape=False)
                  for _ in range(5)]

        def body(step, words, n_chars, idx, pos, arrays):
            rem = n_chars - pos
            n_len = tf.minimum(tf.reduce_max(rem), max_piece)
            lens = tf.range(1, n_len + 1)[tf.newaxis, :]  # (1, L)
            shape = tf.stack([tf.size(words, out_type=tf.int64), n_len])
            sub = tf.strings.substr(tf.broadcast_to(words[:, tf.newaxis], shape),
                                    tf.broadcast_to(pos[:, tf.newaxis], shape),
                                    tf.broadcast_to(lens, shape), unit="UTF8_CHAR")
            prefix = tf.where(pos > 0, suffix, "")[:, tf.newaxis]
            ids = vocab.lookup(tf.strings.join([tf.broadcast_to(prefix, shape), sub]))
            hit = (ids >= 0) & (lens <= rem[:, tf.newaxis])
            best = tf.reduce_max(tf.where(hit, lens, 0), axis=1)
            best_id = tf.reduce_max(tf.where(hit & (lens == best[:, tf.newaxis]), ids, -1), 1)
            # Every active word writes one entry per step; best == 0 marks a failed word.
            emitted = [idx, tf.fill(tf.shape(idx), tf.cast(step, tf.int64)), best_id, pos, best]
            arrays = [a.write(step, e) for a, e in zip(arrays, emitted)]
            pos = pos + best
            go = tf.where((best > 0) & (pos < n_chars))[:, 0]
            state = [tf.gather(x, go) for x in (words, n_chars, idx, pos)]
            return [step + 1] + state + [arrays]

        def cond(step, words, *unused):
            return tf.size(words) > 0

        loop_vars = [tf.constant(0), words, n_chars, word_index, tf.zeros_like(n_chars), arrays]
        out = tf.while_loop(cond, body, loop_vars, shape_invariants=[
                tf.TensorShape([]), tf.TensorShape([None]), tf.TensorShape([None]),
                tf.TensorShape([None]), tf.TensorShape([None]), [None] * 5])
        # An empty TensorArray cannot be concatenated: append one empty element first.
        return [tf.reshape(a.write(a.size(), tf.zeros([0], tf.int64)).concat(), [-1])
                for a in out[-1]]

    def detokenize(self, ids):
        """int ragged (B, None) -> tf.string (B,); (None,) -> scalar."""
        ids = ids if isinstance(ids, tf.RaggedTensor) else tf.convert_to_tensor(ids)
        if ids.shape.rank == 1:
            return self.detokenize(tf.RaggedTensor.from_tensor(ids[tf.newaxis]))[0]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        tokens = tf.ragged.map_flat_values(self._id_to_token_table.lookup, tf.cast(ids, tf.int64))
        text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        return tf.strings.regex_replace(text, " " + _re_escape(self.suffix_indicator), "")


def _re_escape(text):
    return "".join("\\" + c if not c.isalnum() else c for c in text)
