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

Graph paths. `tokenize`/`call` (ids only) cut rows at spaces and split each distinct chunk of
printable ASCII into words with string ops (lowercase, a space around each punctuation mark,
whitespace split); other chunks, and `tokenize_with_offsets`, go through the per-code-point
table. Distinct words are looked up
whole, and the distinct words not in the vocabulary are segmented by regular expressions built
from the vocabulary's trie (RE2's leftmost-first match = the longest token at a position), so
there is no per-piece loop. Tests check both paths against the host path token for token.
"""
import bisect
import collections
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_llm.tokenizers import bert_normalization as bn

_CACHE_LIMIT = 500_000  # entries per host cache; cleared when full

# Chunks (text between ASCII spaces) the string-op path may split into words: printable
# ASCII, no whitespace or control characters. Their BERT classes: the ASCII punctuation below
# is a word of its own, letters and digits are word characters (checked against the
# normalization table by tests/tokenizers). Anything else takes the code-point path.
_CLEAN_CHUNK = "[!-~]*"
_ASCII_PUNCT = "([!-/:-@\\[-`{-~])"
# Size limits (pattern characters) of the segmentation regular expressions: RE2's default
# memory budget keeps its fast DFA up to roughly 100 K characters of trie pattern.
_FIRST_GROUP_CHARS = 80_000
_CONT_PATTERN_CHARS = 100_000

_Words = collections.namedtuple("_Words", "chars strings rows orig")
_Pieces = collections.namedtuple("_Pieces", "ids word word_splits start length")


def _regex_char(ch):
    return ch if ch.isalnum() else "\\x{%x}" % ord(ch)


def _trie_regex(tokens):
    """A regex of nested groups over the tokens' trie: at any position, RE2's leftmost-first
    match is the LONGEST token there (deeper alternatives come before the optional end)."""
    root = {}
    for token in tokens:
        node = root
        for ch in token:
            node = node.setdefault(ch, {})
        node[None] = True

    def below(node):
        alternatives = [_regex_char(ch) + below(node[ch])
                        for ch in sorted(k for k in node if k is not None)]
        if not alternatives:
            return ""
        body = "(?:" + "|".join(alternatives) + ")"
        return body + "?" if None in node else body
    # Recursion depth = the longest token, far below the recursion limit.
    return below(root)


def _segmentation_patterns(tokens, suffix, word_ranges):
    """(first-piece patterns, pattern index of each of the 256 lead bytes (len(patterns):
    no pattern), continuation pattern), or None when the vocabulary is too big.

    First-piece tokens are grouped by the first byte of their UTF-8 form, so that a word
    needs only the one pattern its own first byte selects. Only tokens made of characters
    that can occur inside a word take part (see `bert_normalization.word_char_ranges`);
    other tokens can never match there."""
    starts = [lo for lo, _ in word_ranges]

    def in_word(text):
        for ch in text:
            i = bisect.bisect_right(starts, ord(ch)) - 1
            if i < 0 or ord(ch) > word_ranges[i][1]:
                return False
        return bool(text)
    first = [t for t in tokens if in_word(t)]
    cont = [t[len(suffix):] for t in tokens if t.startswith(suffix) and in_word(t[len(suffix):])]
    cont_pattern = _trie_regex(cont) or "[^\\x{0}-\\x{10ffff}]"  # no match
    if len(cont_pattern) > _CONT_PATTERN_CHARS:
        return None
    by_first = collections.defaultdict(list)
    for token in first:
        by_first[token[0]].append(token)
    by_lead = collections.defaultdict(list)   # lead byte -> tries of its first characters
    for ch in sorted(by_first):
        by_lead[ch.encode("utf-8")[0]].append(_trie_regex(by_first[ch]))
    groups, lead_group, size = [[]], {}, 0
    for lead in sorted(by_lead):
        subs = by_lead[lead]
        length = sum(len(sub) for sub in subs)
        if length > _FIRST_GROUP_CHARS:
            return None
        if groups[-1] and size + length > _FIRST_GROUP_CHARS:
            groups.append([])
            size = 0
        groups[-1].extend(subs)
        lead_group[lead] = len(groups) - 1
        size += length
    first_patterns = ["^(?:" + "|".join(g) + ")" for g in groups if g]
    lead_groups = np.full((256,), len(first_patterns), np.int32)
    for lead, group in lead_group.items():
        lead_groups[lead] = group
    return first_patterns, lead_groups, cont_pattern


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
        patterns = _segmentation_patterns(self.vocabulary, suffix_indicator,
                                          bn.word_char_ranges(self._table))
        # None: too large for fast regular expressions; the graph path then segments words
        # with a vectorised loop (same ids, slower).
        self._first_patterns, self._lead_groups, self._cont_pattern = (
                patterns or ((), np.zeros((256,), np.int32), ""))
        # RE2 rewrite: a space and the suffix before each continuation match.
        self._cont_rewrite = " " + suffix_indicator.replace("\\", "\\\\") + "\\0"
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
        return self.tokenize(inputs)

    def tokenize(self, inputs):
        """Token ids only: the fast path (see `_tokenize_ids`); same ids as the offsets path."""
        inputs = self._check_input(inputs)
        if inputs.shape.rank == 0:
            return self._tokenize_ids(inputs[tf.newaxis])[0]
        return self._tokenize_ids(inputs)

    def tokenize_with_offsets(self, inputs):
        """tf.string (B,) -> (ids, starts, ends), int32 ragged (B, None) each."""
        inputs = self._check_input(inputs)
        if inputs.shape.rank == 0:
            ids, starts, ends = self._tokenize_batch(inputs[tf.newaxis])
            return ids[0], starts[0], ends[0]
        return self._tokenize_batch(inputs)

    @staticmethod
    def _check_input(inputs):
        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        if inputs.shape.rank not in (0, 1):
            raise ValueError(f"WordPieceTokenizer expects a scalar or (B,) string tensor, "
                             f"got shape {inputs.shape}")
        return inputs

    def _tokenize_ids(self, inputs):
        """(B,) -> int32 ragged ids, without offsets.

        Rows are first cut at ASCII spaces (always a word boundary) and each DISTINCT
        space-free chunk is split into words once (`_distinct_chunk_words`). The words' pieces
        (`_wordpiece_graph`) are then gathered back, chunk by chunk, into the rows with
        integer gathers only."""
        chunks, chunk_of, words, starts, limits = self._distinct_chunk_words(inputs)
        # Chunks rarely share words, so words are not deduplicated again.
        pieces = self._wordpiece_graph(words, dedupe=False)
        # piece range of each distinct chunk, then of each chunk occurrence
        first, last = tf.gather(pieces.word_splits, starts), tf.gather(pieces.word_splits, limits)
        index = tf.ragged.range(tf.gather(first, chunk_of), tf.gather(last, chunk_of))
        return tf.RaggedTensor.from_row_splits(
                tf.cast(tf.gather(pieces.ids, index.flat_values), tf.int32),
                tf.gather(index.row_splits, chunks.row_splits), validate=False)

    def _distinct_chunk_words(self, inputs):
        """(B,) -> (chunks (B, None), chunk_of, words, starts, limits): the rows cut at ASCII
        spaces, the index of each chunk among the distinct chunks, and the words of all
        distinct chunks; the words of distinct chunk d are words[starts[d]:limits[d]].

        Distinct chunks are split by string ops (lowercase, spaces around punctuation,
        split); those that are not printable ASCII take the code-point path of
        `_tokenize_batch` instead. Both give the words the whole row would give."""
        chunks = tf.strings.split(inputs, sep=" ")                    # (B, None), "" kept
        distinct, chunk_of = tf.unique(chunks.flat_values, out_idx=tf.int64)
        text = tf.strings.lower(distinct) if self.lowercase else distinct
        # Every distinct chunk goes through the string ops (cheaper than picking the clean
        # ones out); the words of the others are replaced below and never used.
        fast = tf.strings.split(tf.strings.regex_replace(text, _ASCII_PUNCT, " \\1 "))
        other_ids = tf.where(~tf.strings.regex_full_match(distinct, _CLEAN_CHUNK))[:, 0]

        def all_clean():
            return fast.flat_values, fast.row_starts(), fast.row_limits()

        def mixed():
            other = self._words(tf.gather(distinct, other_ids))
            splits = tf.RaggedTensor.from_value_rowids(
                    other.strings, other.rows, nrows=tf.size(other_ids, out_type=tf.int64),
                    validate=False).row_splits + tf.size(fast.flat_values, out_type=tf.int64)
            at = other_ids[:, tf.newaxis]
            return (tf.concat([fast.flat_values, other.strings], 0),
                    tf.tensor_scatter_nd_update(fast.row_starts(), at, splits[:-1]),
                    tf.tensor_scatter_nd_update(fast.row_limits(), at, splits[1:]))
        words, starts, limits = tf.cond(tf.size(other_ids) > 0, mixed, all_clean)
        return chunks, chunk_of, words, starts, limits

    def _tokenize_batch(self, inputs):
        words = self._words(inputs)
        pieces = self._wordpiece_graph(words.strings)
        w = pieces.word
        first = tf.gather(words.chars.row_starts(), w) + pieces.start
        starts = tf.gather(words.orig, first)
        ends = tf.gather(words.orig, first + pieces.length - 1) + 1
        tok_rows = tf.gather(words.rows, w)
        n_rows = tf.shape(inputs, out_type=tf.int64)[0]

        def ragged(values):
            return tf.RaggedTensor.from_value_rowids(
                    tf.cast(values, tf.int32), tok_rows, nrows=n_rows, validate=False)
        return ragged(pieces.ids), ragged(starts), ragged(ends)

    def _words(self, inputs):
        """Code-point path: (B,) -> _Words: the words of all rows in order, with their
        normalized code points, UTF-8 strings, rows and original code-point positions."""
        cps = tf.strings.unicode_decode(inputs, "UTF-8", errors="replace")  # (B, None)
        rows = cps.value_rowids()
        orig_pos = tf.range(tf.size(cps.flat_values, out_type=tf.int64)) - tf.gather(
                cps.row_starts(), rows)
        ncp, cls, src = self._normalize(cps.flat_values)
        chars, word_rows, orig = self._split_words_graph(
                ncp, cls, tf.gather(rows, src), tf.gather(orig_pos, src))
        return _Words(chars, tf.strings.unicode_encode(chars, "UTF-8"), word_rows, orig)

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

    def _wordpiece_graph(self, words, dedupe=True):
        """(W,) normalized words -> _Pieces, ordered by word.

        Each DISTINCT word (each word when not `dedupe`) is looked up whole; those not in
        the vocabulary are segmented once (`_segment_regex`, or `_segment_loop` for
        vocabularies too large for its patterns), and every word then gathers its row of
        pieces.
        """
        distinct, word_distinct = tf.unique(words, out_idx=tf.int64) if dedupe else (words, None)
        n_distinct = tf.size(distinct, out_type=tf.int64)
        n_chars = tf.cast(tf.strings.length(distinct, unit="UTF8_CHAR"), tf.int64)
        whole = self._vocab_table.lookup(distinct)
        too_long = n_chars > self.max_input_chars_per_word
        split = tf.where((whole < 0) & ~too_long)[:, 0]
        todo, todo_chars = tf.gather(distinct, split), tf.gather(n_chars, split)
        segment = self._segment_regex if self._first_patterns else self._segment_loop
        todo_splits, todo_ids, todo_lens, failed = segment(todo, todo_chars)
        # One ragged table: rows 0..T-1 hold the pieces of the T segmented words, row T + d the
        # single token of distinct word d (its id, [UNK] when too long or its segmentation
        # failed); every word gathers its row (one RaggedGather op per field).
        n_todo = tf.size(todo, out_type=tf.int64)
        distinct_range = tf.range(n_distinct)
        ok_todo = tf.boolean_mask(split, ~failed)
        todo_of = tf.scatter_nd(ok_todo[:, tf.newaxis], tf.boolean_mask(
                tf.range(1, n_todo + 1), ~failed), [n_distinct]) - 1
        row_of_word = tf.where(todo_of >= 0, todo_of, n_todo + distinct_range)
        if word_distinct is not None:
            row_of_word = tf.gather(row_of_word, word_distinct)
        splits = tf.concat([todo_splits, todo_splits[-1] + 1 + distinct_range], 0)
        single_id = tf.where((whole >= 0) & ~too_long, whole,
                             tf.constant(self._unk_id, tf.int64))
        offset = tf.cumsum(todo_lens, exclusive=True)
        piece_row = tf.RaggedTensor.from_row_splits(todo_lens, todo_splits,
                                                    validate=False).value_rowids()
        todo_starts = offset - tf.gather(offset, tf.gather(todo_splits, piece_row))

        def per_word(todo_values, single_values):
            table = tf.RaggedTensor.from_row_splits(
                    tf.concat([todo_values, single_values], 0), splits, validate=False)
            return tf.gather(table, row_of_word)
        ids = per_word(todo_ids, single_id)
        start = per_word(todo_starts, tf.zeros_like(n_chars)).flat_values
        length = per_word(todo_lens, n_chars).flat_values
        return _Pieces(ids.flat_values, ids.value_rowids(), ids.row_splits, start, length)

    def _segment_regex(self, todo, todo_chars):
        """Greedy longest-match-first by regular expressions over the vocabulary's trie
        (`_trie_regex`: the first match at a position is the longest token there).

        The word's first byte selects a `^`-anchored word-initial pattern, which cuts the
        first piece off the word; the continuation pattern, matched globally on the rest,
        writes the other pieces as " ##match"; then first piece and marked rest are joined
        and split on spaces. A character where no token starts stays glued to the
        piece before it, so that piece's lookup fails, and a word with no first piece fails
        too: such a word becomes one unknown token.
        Returns (row splits (T+1,), piece ids (P,), piece code-point lengths (P,),
        failed (T,)); pieces ordered by word.
        """
        del todo_chars
        # Each word goes through the one first-piece pattern its first byte selects (words
        # whose first byte starts no token go through none).
        n_patterns = len(self._first_patterns)
        lead = tf.io.decode_raw(todo, tf.uint8, fixed_length=1)[:, 0]  # first byte (0 if "")
        group = tf.gather(tf.constant(self._lead_groups), tf.cast(lead, tf.int32))
        parts = tf.dynamic_partition(todo, group, n_patterns + 1)
        positions = tf.dynamic_partition(tf.range(tf.size(todo)), group, n_patterns + 1)
        # The first piece is cut off; what is left is the rest of the word (the whole word
        # when no first piece matches: such words fail below).
        rest = tf.dynamic_stitch(positions, [
                tf.strings.regex_replace(part, pattern, "", replace_global=False)
                for part, pattern in zip(parts, self._first_patterns)] + parts[-1:])
        first_bytes = tf.strings.length(todo) - tf.strings.length(rest)
        first = tf.strings.substr(todo, tf.zeros_like(first_bytes), first_bytes)
        rest = tf.strings.regex_replace(rest, self._cont_pattern, self._cont_rewrite)
        pieces = tf.strings.split(tf.strings.join([first, rest]))  # (T, None), "##" included
        ids = self._vocab_table.lookup(pieces.flat_values)
        failed = (tf.math.unsorted_segment_max(tf.cast(ids < 0, tf.int32), pieces.value_rowids(),
                                               tf.size(todo)) > 0) | (first_bytes == 0)
        is_first = tf.range(tf.size(ids, out_type=tf.int64)) == tf.gather(
                pieces.row_splits, pieces.value_rowids())
        lens = tf.cast(tf.strings.length(pieces.flat_values, unit="UTF8_CHAR"), tf.int64)
        lens -= tf.where(is_first, tf.constant(0, tf.int64), len(self.suffix_indicator))
        return pieces.row_splits, ids, lens, failed

    def _segment_loop(self, todo, todo_chars):
        """`_segment_regex` for vocabularies too large for its patterns: a vectorised
        greedy loop (`_greedy_loop`). Same return values."""
        n_todo = tf.size(todo, out_type=tf.int64)
        w, k, token_id, _, length = self._greedy_loop(todo, todo_chars, tf.range(n_todo))
        failed_w = tf.boolean_mask(w, length == 0)
        failed = tf.scatter_nd(failed_w[:, tf.newaxis], tf.ones_like(failed_w, tf.bool),
                               [n_todo])
        ok = ~tf.gather(failed, w)
        w, k, token_id, length = [tf.boolean_mask(x, ok) for x in (w, k, token_id, length)]
        splits = tf.concat([[0], tf.cumsum(tf.math.unsorted_segment_sum(
                tf.ones_like(w), w, n_todo))], 0)
        dest = (tf.gather(splits, w) + k)[:, tf.newaxis]
        total = splits[-1:]
        return (splits, tf.scatter_nd(dest, token_id, total), tf.scatter_nd(dest, length, total),
                failed)

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
