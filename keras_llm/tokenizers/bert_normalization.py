"""BERT text normalization as a static code-point table shared by the host and graph paths.

BERT's "basic tokenizer" (Hugging Face `BertNormalizer` + `BertPreTokenizer`) works one code
point at a time: drop control characters, map whitespace to a space, isolate CJK ideographs and
punctuation, and optionally strip accents (NFD, then drop non-spacing marks) and lowercase. Each
original code point therefore maps to 0..K normalized code points, each with a class telling the
word splitter what to do. We precompute that map in Python from `unicodedata` once, and both paths
read the same table, so they agree by construction (tensorflow-text's normalize op is not core TF).

The table is stored as sorted ranges of original code points. Inside a range every code point c
maps to the single code point `c + delta` with one class, unless the range has a `multi` row: then
its single code point maps to the expansion `multi_cps[row, :multi_len[row]]` (e.g. Hangul
syllables decomposing into jamo, or characters dropped entirely).
"""
import dataclasses
import functools
import os
import pathlib
import tempfile
import unicodedata

import numpy as np

# Classes of normalized code points.
WORD = 0  # part of a word
SPLIT = 1  # a word by itself (punctuation, CJK ideograph)
SPACE = 2  # separates words, then dropped
DROP = 3  # removed (control characters, U+0000, U+FFFD)

MAX_CODE_POINT = 0x10FFFF

# CJK Unified Ideographs blocks as in Hugging Face's `is_chinese_char` (Hangul and kana are not
# here). HF (our reference) starts the fifth range at 0x2B920 where Google's BERT has 0x2B820.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(cp):
    for lo, hi in _CJK_RANGES:
        if lo <= cp <= hi:
            return True
    return False


def _is_punctuation(ch):
    # All ASCII non-alphanumeric printable characters count, like "^", "$", "`" (category S*).
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_dropped(ch):
    # Tab, newline and carriage return are whitespace; other control (Cc), format (Cf), private
    # use (Co) and surrogate (Cs) characters are removed, like HF's `clean_text`. Unassigned code
    # points (Cn) are kept as word characters, as HF does (Google's BERT drops them too).
    if ch in "\t\n\r":
        return False
    return ch in "\x00\ufffd" or unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def _normalize_char(ch, lowercase, strip_accents):
    """The normalized string of one non-dropped, non-space character (HF order: strip, lower)."""
    if strip_accents:
        ch = "".join(c for c in unicodedata.normalize("NFD", ch)
                     if unicodedata.category(c) != "Mn")
    if lowercase:
        ch = "".join(c.lower() for c in ch)
    return ch


def char_expansion(cp, lowercase, strip_accents):
    """[(normalized code point, class), ...] for one original code point."""
    ch = chr(cp)
    if unicodedata.category(ch) == "Cn" and not _is_cjk(cp):
        return [(cp, WORD)]  # unassigned: fast path for most of the code space
    if _is_dropped(ch):
        return []
    if ch.isspace():
        return [(0x20, SPACE)]
    out = _normalize_char(ch, lowercase, strip_accents)
    if _is_cjk(cp):
        return [(ord(c), SPLIT) for c in out]
    return [(ord(c), SPACE if c.isspace() else SPLIT if _is_punctuation(c) else WORD) for c in out]


@dataclasses.dataclass(frozen=True)
class NormalizationTable:
    """Ranges of original code points -> normalized code points and classes (see module doc).

    starts: (R,) int32 first code point of each range, sorted, starts[0] == 0.
    delta, cls: (R,) int32 normalized = original + delta, with class cls (single-code-point case).
    multi: (R,) int32 row in multi_* for a one-code-point range with another expansion, else -1.
        A range with cls == DROP and multi == -1 expands to nothing.
    multi_cps, multi_cls: (M, K) int32 expansions padded with 0 / DROP; multi_len: (M,) int32.
    """
    starts: np.ndarray
    delta: np.ndarray
    cls: np.ndarray
    multi: np.ndarray
    multi_cps: np.ndarray
    multi_cls: np.ndarray
    multi_len: np.ndarray

    def lookup(self, cp):
        """Host-side expansion of one code point, read from the table (not from unicodedata)."""
        r = int(np.searchsorted(self.starts, cp, side="right")) - 1
        row = self.multi[r]
        if row < 0 and self.cls[r] == DROP:
            return ()
        if row < 0:
            return ((cp + int(self.delta[r]), int(self.cls[r])),)
        n = self.multi_len[row]
        return tuple(zip(self.multi_cps[row, :n].tolist(), self.multi_cls[row, :n].tolist()))


_FIELDS = ("starts", "delta", "cls", "multi", "multi_cps", "multi_cls", "multi_len")
_TABLE_VERSION = 2  # bump when the rules above change


def _cache_path(lowercase, strip_accents):
    root = pathlib.Path(os.environ.get("KERAS_LLM_CACHE",
                                       pathlib.Path.home() / ".cache" / "keras_llm"))
    name = (f"bert_normalization_v{_TABLE_VERSION}_unicode{unicodedata.unidata_version}_"
            f"lower{int(lowercase)}_strip{int(strip_accents)}.npz")
    return root / name


@functools.lru_cache(maxsize=4)
def build_table(lowercase, strip_accents):
    """The NormalizationTable for these options, cached on disk per Unicode version (building
    it walks all 1.1 M code points: seconds)."""
    path = _cache_path(lowercase, strip_accents)
    try:
        with np.load(path) as data:
            return NormalizationTable(**{k: data[k] for k in _FIELDS})
    except (OSError, KeyError, ValueError):
        pass
    table = _build_table(lowercase, strip_accents)
    try:  # atomic write; a read-only home just means no cache
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{k: getattr(table, k) for k in _FIELDS})
        os.replace(tmp, path)
    except OSError:
        pass
    return table


def _build_table(lowercase, strip_accents):
    starts, delta, cls, multi = [], [], [], []
    rows = []
    for cp in range(MAX_CODE_POINT + 1):
        exp = char_expansion(cp, lowercase, strip_accents)
        if not exp:
            d, c, m = 0, DROP, -1  # DROP ranges expand to nothing
        elif len(exp) == 1:
            d, c, m = exp[0][0] - cp, exp[0][1], -1
        else:
            d, c, m = 0, DROP, len(rows)
            rows.append(exp)
        if m < 0 and starts and multi[-1] < 0 and delta[-1] == d and cls[-1] == c:
            continue  # extends the current range
        starts.append(cp)
        delta.append(d)
        cls.append(c)
        multi.append(m)
    k = max([1] + [len(r) for r in rows])
    multi_cps = np.zeros((len(rows), k), np.int32)
    multi_cls = np.full((len(rows), k), DROP, np.int32)
    for i, r in enumerate(rows):
        for j, (ncp, c) in enumerate(r):
            multi_cps[i, j], multi_cls[i, j] = ncp, c
    return NormalizationTable(
            np.asarray(starts, np.int32), np.asarray(delta, np.int32), np.asarray(cls, np.int32),
            np.asarray(multi, np.int32), multi_cps, multi_cls,
            np.asarray([len(r) for r in rows], np.int32))


def word_char_ranges(table: NormalizationTable):
    """Sorted, merged (first, last) code-point intervals that can occur in a normalized word
    of more than one character (outputs of class WORD)."""
    ends = np.append(table.starts[1:], 0x110000) - 1
    single = (table.multi < 0) & (table.cls == WORD)
    spans = list(zip((table.starts + table.delta)[single].tolist(),
                     (ends + table.delta)[single].tolist()))
    for row in range(len(table.multi_len)):
        n = table.multi_len[row]
        spans += [(int(cp), int(cp)) for cp, c in zip(table.multi_cps[row, :n],
                                                      table.multi_cls[row, :n]) if c == WORD]
    merged = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
