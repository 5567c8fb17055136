"""GPT-2 style byte-level BPE tokenizer with a host (Python) path and a graph (core TF ops) path.

Shapes: B batch of strings, W words (pre-tokens) per string, T tokens per string.

Both paths implement the same algorithm and give identical ids and offsets:
1. Pre-tokenize with the GPT-2 regex
   `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`, its classes spelled
   out as explicit code-point ranges (`byte_pair_unicode`, probed from Hugging Face `tokenizers`) so
   that Python, RE2 and HF agree whatever Unicode version each ships. The host path runs the regex
   itself (Python `re` has lookahead); RE2 has none, so the graph path first cuts every whitespace
   run that is followed by a non-space before its last character (the only place `(?!\\S)` matters),
   then runs the regex without the lookahead on each piece.
2. Map every UTF-8 byte of a word to a printable character (the GPT-2 byte -> unicode table).
3. Apply merges by rank: repeatedly merge, in every word, all left-to-right non-overlapping
   occurrences of the adjacent pair with the lowest rank (GPT-2 `bpe()`; the same as HF's queue
   for any merges list where a merge's parts exist before it, as every trained list does).

Offsets are Unicode code-point positions in the ORIGINAL string, end exclusive. A token covering only
part of a multi-byte character gets the span of every character it touches: start = index of the
character holding its first byte, end = 1 + index of the character holding its last byte (so two
tokens that split one character both report that character's span). This is HF's convention.

Special tokens such as `<|endoftext|>` are ordinary vocabulary entries: text is never split on them.
"""
import json
import os
import re
import tempfile

import keras
import tensorflow as tf

from keras_llm.tokenizers import byte_pair_unicode

_INF_RANK = 2**31 - 1
_CUT = b"\xff"  # never occurs in UTF-8, so it can mark split points in valid text


def bytes_to_unicode():
    """The GPT-2 table: byte value -> printable character (printable Latin-1 bytes map to themselves)."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
            + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    chars = {b: chr(b) for b in keep}
    shift = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + shift)
            shift += 1
    return chars


def _python_class(ranges):
    return "".join(re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "")
                   for lo, hi in ranges)


def _re2_class(ranges):
    return "".join(f"\\x{{{lo:x}}}" + (f"-\\x{{{hi:x}}}" if hi > lo else "") for lo, hi in ranges)


def _pattern(cls, lookahead):
    """The GPT-2 regex with explicit classes; `lookahead=False` drops `\\s+(?!\\S)` (see module doc)."""
    letter, number, space = (cls(byte_pair_unicode.LETTER), cls(byte_pair_unicode.NUMBER),
                             cls(byte_pair_unicode.WHITESPACE))
    other = f"[^{space}{letter}{number}]"
    parts = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", f" ?[{letter}]+", f" ?[{number}]+",
             f" ?{other}+"]
    if lookahead:
        parts.append(f"[{space}]+(?![^{space}])")
    parts.append(f"[{space}]+")
    return "|".join(parts)


_HOST_REGEX = re.compile(_pattern(_python_class, lookahead=True))
_SPACE_RE2 = _re2_class(byte_pair_unicode.WHITESPACE)
# Before the last char of a whitespace run followed by a non-space: where `\s+(?!\S)` stops.
_GRAPH_CUT_PATTERN = f"([{_SPACE_RE2}])([^{_SPACE_RE2}])"
_GRAPH_WORD_PATTERN = _pattern(_re2_class, lookahead=False)


def _load_vocabulary(vocabulary):
    if isinstance(vocabulary, (str, os.PathLike)):
        with open(vocabulary, encoding="utf-8") as f:
            vocabulary = json.load(f)
    if not isinstance(vocabulary, dict):
        raise TypeError(f"vocabulary must be a vocab.json path or a dict, got {type(vocabulary)}")
    tokens = sorted(vocabulary, key=vocabulary.get)
    if sorted(vocabulary.values()) != list(range(len(tokens))):
        raise ValueError("vocabulary ids must be exactly 0..V-1 without gaps or repeats")
    for token in tokens:
        if not token or "\n" in token or "\r" in token:
            raise ValueError(f"vocabulary token {token!r} is empty or holds a line break")
    missing = [c for c in bytes_to_unicode().values() if c not in vocabulary]
    if missing:
        raise ValueError(f"vocabulary lacks byte-level characters {missing[:5]}... (all 256 needed)")
    return dict(vocabulary)


def _load_merges(merges, vocabulary):
    if isinstance(merges, (str, os.PathLike)):
        with open(merges, encoding="utf-8") as f:
            merges = [line.rstrip("\r\n") for line in f]
        merges = [m for i, m in enumerate(merges) if m and not (i == 0 and m.startswith("#version"))]
    out = []
    for merge in merges:
        pair = tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge)
        if len(pair) != 2 or not all(pair) or "".join(pair) not in vocabulary:
            raise ValueError(f"bad merge {merge!r}: need two tokens whose join is in the vocabulary")
        out.append(pair)
    if len(set(out)) != len(out):
        raise ValueError("merges contain duplicates")
    return out


def _write_lines(directory, name, lines):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


@keras.saving.register_keras_serializable(package="keras_llm")
class BytePairTokenizer(keras.layers.Layer):
    """GPT-2 byte-level BPE. `vocabulary`: vocab.json path or dict; `merges`: merges.txt path or list.

    Host: `encode`, `encode_with_offsets`, `decode` (Python, cached per word). Graph:
    `tokenizer(strings)` -> tf.RaggedTensor int32 (B, None) (a 1-D tensor for a scalar string),
    `tokenize_with_offsets`, `detokenize`. The vocabulary and merges become SavedModel assets.
    Graph inputs must be valid UTF-8 (as every Python str is). `detokenize` drops ids outside the
    vocabulary, where the host `decode` raises ValueError.
    """

    def __init__(self, vocabulary, merges, **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.vocabulary = _load_vocabulary(vocabulary)
        self.merges = [" ".join(pair) for pair in _load_merges(merges, self.vocabulary)]
        self._id_to_token = sorted(self.vocabulary, key=self.vocabulary.get)
        self._ranks = {tuple(m.split(" ")): i for i, m in enumerate(self.merges)}
        self._byte_chars = bytes_to_unicode()
        self._char_bytes = {c: b for b, c in self._byte_chars.items()}
        self._cache = {}
        self._build_tables()

    def _build_tables(self):
        # Line-per-entry files: TextFileInitializer reads them and SavedModel copies them as assets.
        directory = tempfile.mkdtemp(prefix="keras_llm_bpe_")
        self._asset_directory = directory
        vocab_file = _write_lines(directory, "vocab.txt", self._id_to_token)
        merges_file = _write_lines(directory, "merges.txt", self.merges)
        line, whole = tf.lookup.TextFileIndex.LINE_NUMBER, tf.lookup.TextFileIndex.WHOLE_LINE
        self._token_to_id_table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(vocab_file, tf.string, whole, tf.int64, line), -1)
        self._id_to_token_table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(vocab_file, tf.int64, line, tf.string, whole), "")
        self._merge_rank_table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(merges_file, tf.string, whole, tf.int64, line),
                _INF_RANK)
        byte_keys = [bytes([b]) for b in range(256)]
        byte_values = [self._byte_chars[b].encode("utf-8") for b in range(256)]
        self._byte_to_char_table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(byte_keys, byte_values), "")
        # Code point of a byte-level char -> the byte; dense because all such code points are < 324.
        # The last entry ("?") stands for any char outside the table (e.g. in special tokens).
        char_to_byte = [ord("?")] * (max(map(ord, self._char_bytes)) + 2)
        for c, b in self._char_bytes.items():
            char_to_byte[ord(c)] = b
        self._char_to_byte = tf.constant(char_to_byte, tf.int32)
        self._single_bytes = tf.constant(byte_keys)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": self.vocabulary, "merges": self.merges})
        return config

    # ---- vocabulary ------------------------------------------------------------------------
    @property
    def vocabulary_size(self):
        return len(self._id_to_token)

    def token_to_id(self, token):
        if token not in self.vocabulary:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return self.vocabulary[token]

    def id_to_token(self, token_id):
        if not 0 <= token_id < self.vocabulary_size:
            raise ValueError(f"id {token_id} is outside [0, {self.vocabulary_size})")
        return self._id_to_token[token_id]

    @property
    def end_token_id(self):
        """Id of `<|endoftext|>` (GPT-2's document separator), or None if absent."""
        return self.vocabulary.get("<|endoftext|>")

    # ---- host path -------------------------------------------------------------------------
    def _bpe(self, symbols):
        """GPT-2 `bpe()`: merge all non-overlapping occurrences of the lowest-rank pair, repeat."""
        while len(symbols) > 1:
            pairs = set(zip(symbols[:-1], symbols[1:]))
            best = min(pairs, key=lambda p: self._ranks.get(p, _INF_RANK))
            if best not in self._ranks:
                break
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return symbols

    def _encode_word(self, word):
        """-> (ids, starts, ends) with code-point offsets relative to the word; cached."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        data = word.encode("utf-8")
        char_of_byte = [i for i, c in enumerate(word) for _ in range(len(c.encode("utf-8")))]
        tokens = self._bpe([self._byte_chars[b] for b in data])
        ids, starts, ends, pos = [], [], [], 0
        for token in tokens:
            ids.append(self.vocabulary[token])
            starts.append(char_of_byte[pos])
            pos += len(token)  # one byte-level char per byte
            ends.append(char_of_byte[pos - 1] + 1)
        if len(self._cache) < 1_000_000:
            self._cache[word] = (ids, starts, ends)
        return ids, starts, ends

    def _check_texts(self, texts):
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of str (wrap a single string in a list)")

    def encode_with_offsets(self, texts):
        """list[str] -> (ids, starts, ends), each list[list[int]]; code-point offsets."""
        self._check_texts(texts)
        all_ids, all_starts, all_ends = [], [], []
        for text in texts:
            ids, starts, ends = [], [], []
            for match in _HOST_REGEX.finditer(text):
                w_ids, w_starts, w_ends = self._encode_word(match.group())
                ids += w_ids
                starts += [match.start() + s for s in w_starts]
                ends += [match.start() + e for e in w_ends]
            all_ids.append(ids)
            all_starts.append(starts)
            all_ends.append(ends)
        return all_ids, all_starts, all_ends

    def encode(self, texts):
        """list[str] -> list[list[int]]."""
        self._check_texts(texts)
        return [[i for m in _HOST_REGEX.finditer(t) for i in self._encode_word(m.group())[0]]
                for t in texts]

    def decode(self, ids):
        """list[list[int]] -> list[str]; invalid UTF-8 (a cut multi-byte char) becomes U+FFFD."""
        out = []
        for row in ids:
            chars = "".join(self.id_to_token(int(i)) for i in row)
            out.append(bytes(self._char_bytes.get(c, ord("?")) for c in chars)
                       .decode("utf-8", errors="replace"))
        return out

    # ---- graph path ------------------------------------------------------------------------
    def _split_words(self, strings):
        """(B,) tf.string -> (B, W) ragged words; their concatenation is the string."""
        cut = tf.strings.regex_replace(strings, _GRAPH_CUT_PATTERN, _CUT + b"\\1\\2")
        pieces = tf.strings.split(cut, sep=_CUT)  # (B, P)
        marked = tf.strings.regex_replace(pieces.flat_values, _GRAPH_WORD_PATTERN, _CUT + b"\\0")
        words = pieces.with_flat_values(tf.strings.split(marked, sep=_CUT)).merge_dims(1, 2)
        return tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)

    def _merge_step(self, values, row_splits):
        """One BPE step over all words: flat symbols + row splits -> merged, and whether any merged."""
        row_ids = tf.ragged.row_splits_to_segment_ids(row_splits)
        num_rows = tf.shape(row_splits)[0] - 1
        # Shift by one via concat-then-slice so that an empty batch keeps length 0.
        following = tf.concat([values, [""]], 0)[1:]
        same_word = tf.equal(tf.concat([row_ids, [-1]], 0)[1:], row_ids)
        ranks = self._merge_rank_table.lookup(tf.strings.join([values, following], " "))
        ranks = tf.where(same_word, ranks, _INF_RANK)
        best = tf.math.unsorted_segment_min(ranks, row_ids, num_rows)
        candidate = (ranks == tf.gather(best, row_ids)) & (ranks < _INF_RANK)
        # Left-to-right non-overlapping: in a run of consecutive candidates (only a pair "x x" can
        # overlap itself), take every other one from the run's start.
        positions = tf.range(tf.size(values, out_type=tf.int64))
        not_candidate = tf.logical_not(candidate)
        seen = tf.cumsum(tf.cast(not_candidate, tf.int64))
        last_break = tf.gather(tf.concat([[-1], tf.where(not_candidate)[:, 0]], 0), seen)
        selected = candidate & (tf.math.floormod(positions - last_break - 1, 2) == 0)
        merged = tf.where(selected, tf.strings.join([values, following]), values)
        keep = tf.logical_not(tf.concat([[False], selected], 0)[:-1])
        lengths = tf.math.unsorted_segment_sum(tf.cast(keep, tf.int64), row_ids, num_rows)
        new_splits = tf.concat([[0], tf.cumsum(lengths)], 0)
        return tf.boolean_mask(merged, keep), new_splits, tf.reduce_any(selected)

    def _bpe_graph(self, words):
        """(U,) unique words -> (U, None) ragged byte-level token strings."""
        chars = tf.ragged.map_flat_values(self._byte_to_char_table.lookup,
                                          tf.strings.bytes_split(words))
        values, splits = chars.flat_values, tf.cast(chars.row_splits, tf.int64)

        def body(values, splits, unused_changed):
            return self._merge_step(values, splits)

        values, splits, _ = tf.while_loop(
                lambda v, s, changed: changed, body, (values, splits, tf.constant(True)),
                shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None]),
                                  tf.TensorShape([])))
        return tf.RaggedTensor.from_row_splits(values, splits, validate=False)

    def _tokenize_batch(self, strings):
        """(B,) -> ids (B, T) int32, starts/ends (B, T) int32 code-point offsets."""
        words = self._split_words(strings)  # (B, W)
        unique, index = tf.unique(words.flat_values)
        tokens = tf.gather(self._bpe_graph(unique), index)  # (B*W, None)
        ids = tf.ragged.map_flat_values(self._token_to_id_table.lookup, tokens)
        # A token holds one byte-level char per byte of the text, so the running sum of token
        # lengths over the whole batch is each token's end in the concatenation of all strings.
        token_bytes = tf.cast(tf.strings.length(tokens.flat_values, unit="UTF8_CHAR"), tf.int64)
        token_end = tf.cumsum(token_bytes)
        starts, ends = self._to_code_points(strings, token_end - token_bytes, token_end)
        tokens_per_string = tf.math.unsorted_segment_sum(
                tokens.row_lengths(), words.value_rowids(), tf.size(strings, tf.int64))
        splits = tf.concat([[0], tf.cumsum(tokens_per_string)], 0)

        def ragged(flat):
            return tf.RaggedTensor.from_row_splits(tf.cast(flat, tf.int32), splits, validate=False)
        return ragged(ids.flat_values), ragged(starts), ragged(ends)

    def _to_code_points(self, strings, byte_start, byte_end):
        """Global byte positions in the batch concatenation -> code-point offsets in each string."""
        byte_lengths = tf.cast(tf.strings.length(strings), tf.int64)
        byte_splits = tf.concat([[0], tf.cumsum(byte_lengths)], 0)
        _, char_starts = tf.strings.unicode_decode_with_offsets(strings, "UTF-8")  # (B, C) bytes
        char_splits = tf.cast(char_starts.row_splits, tf.int64)
        global_starts = char_starts.flat_values + tf.gather(byte_splits, char_starts.value_rowids())
        is_start = tf.scatter_nd(global_starts[:, None], tf.ones_like(global_starts),
                                 byte_splits[-1:])
        char_of_byte = tf.cumsum(is_start) - 1  # global code-point index of every byte
        string_of_byte = tf.searchsorted(byte_splits[1:], byte_start, side="right")
        base = tf.gather(char_splits, string_of_byte)
        starts = tf.gather(char_of_byte, byte_start) - base
        ends = tf.gather(char_of_byte, byte_end - 1) + 1 - base
        return starts, ends

    def tokenize_with_offsets(self, strings):
        """tf.string (B,) or () -> (ids, starts, ends): ragged int32 (B, None), or 1-D for a scalar."""
        strings = tf.convert_to_tensor(strings, tf.string)
        if strings.shape.rank == 0:
            ids, starts, ends = self._tokenize_batch(strings[None])
            return ids[0], starts[0], ends[0]
        if strings.shape.rank != 1:
            raise ValueError(f"strings must have rank 0 or 1, got shape {strings.shape}")
        return self._tokenize_batch(strings)

    def call(self, strings):
        return self.tokenize_with_offsets(strings)[0]

    def detokenize(self, ids):
        """int ids (B, None) ragged/dense or (None,) -> tf.string (B,) or (); lossless for real text."""
        ids = tf.cast(ids if isinstance(ids, tf.RaggedTensor) else tf.convert_to_tensor(ids),
                      tf.int64)
        scalar = ids.shape.rank == 1
        if scalar:
            ids = ids[None]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        tokens = tf.ragged.map_flat_values(self._id_to_token_table.lookup, ids)
        chars = tf.strings.unicode_decode(tf.strings.reduce_join(tokens, axis=-1), "UTF-8")
        byte_values = tf.gather(self._char_to_byte, tf.minimum(
                chars, tf.shape(self._char_to_byte)[0] - 1))
        text = tf.strings.reduce_join(
                tf.ragged.map_flat_values(tf.gather, self._single_bytes, byte_values), axis=-1)
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        return text[0] if scalar else text
