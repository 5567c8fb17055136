"""Train a WordPiece vocabulary from raw text (pure Python, no tensorflow-text).

Like Hugging Face's WordPiece trainer: the text is split into words with the same BERT basic
tokenizer as `WordPieceTokenizer` (same normalization table), every word starts as characters
("c", "##c", "##c", ...), and the most frequent adjacent pair is merged repeatedly until the
vocabulary has `vocabulary_size` tokens. Pair counts are updated incrementally and the best pair
comes from a lazy max-heap, so each merge only touches the words that contain it.
"""
import collections
import heapq

from absl import logging

from keras_llm.tokenizers import bert_normalization as bn

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SUFFIX = "##"


def count_words(texts, lowercase=True, strip_accents=None):
    """Counter of normalized words, split exactly as WordPieceTokenizer splits them."""
    table = bn.build_table(bool(lowercase), bool(lowercase if strip_accents is None
                                                 else strip_accents))
    chunks = collections.Counter()
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text)}: {text!r}")
        chunks.update(text.split(" "))
    words, char_cache = collections.Counter(), {}
    for chunk, n in chunks.items():
        current = []
        for ch in chunk:
            exp = char_cache.get(ch)
            if exp is None:
                exp = char_cache[ch] = table.lookup(ord(ch))
            for ncp, cls in exp:
                if cls == bn.WORD:
                    current.append(chr(ncp))
                    continue
                if current:
                    words["".join(current)] += n
                    current = []
                if cls == bn.SPLIT:
                    words[chr(ncp)] += n
        if current:
            words["".join(current)] += n
    return words


def _alphabet(words, budget):
    """Initial symbols: first characters and "##"-continuation characters, most frequent first."""
    freq = collections.Counter()
    for word, n in words.items():
        freq[word[0]] += n
        for ch in word[1:]:
            freq[SUFFIX + ch] += n
    ranked = sorted(freq, key=lambda s: (-freq[s], s))
    if len(ranked) > budget:
        logging.warning("alphabet of %d symbols truncated to %d", len(ranked), budget)
    return ranked[:budget]


class _PairMerger:
    """Incremental BPE-style pair merging over a weighted word list."""

    def __init__(self, words, symbols):
        self.symbols = list(symbols)
        index = {s: i for i, s in enumerate(self.symbols)}
        unk = -1
        self.words, self.counts = [], []
        for word, n in words.items():
            seq = [index.get(word[0], unk)] + [index.get(SUFFIX + c, unk) for c in word[1:]]
            if unk in seq or len(seq) < 2:
                continue  # words with dropped characters can never be fully merged
            self.words.append(seq)
            self.counts.append(n)
        self.pair_count = collections.Counter()
        self.pair_words = collections.defaultdict(set)
        for w, seq in enumerate(self.words):
            self._add(w, seq, 1)
        self.heap = [(-c, p) for p, c in self.pair_count.items()]
        heapq.heapify(self.heap)

    def _add(self, w, seq, sign):
        n = self.counts[w] * sign
        for pair in zip(seq, seq[1:]):
            self.pair_count[pair] += n
            if sign > 0:
                self.pair_words[pair].add(w)

    def best_pair(self):
        while self.heap:
            neg, pair = heapq.heappop(self.heap)
            count = self.pair_count.get(pair, 0)
            if count <= 0:
                continue
            if -neg != count:  # stale entry: push the current count back
                heapq.heappush(self.heap, (-count, pair))
                continue
            return pair
        return None

    def merge(self, pair):
        a, b = pair
        merged = self.symbols[a] + self.symbols[b][len(SUFFIX):]
        new = len(self.symbols)
        self.symbols.append(merged)
        touched = set()
        for w in self.pair_words.pop(pair, ()):
            seq = self.words[w]
            self._add(w, seq, -1)
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            self.words[w] = out
            self._add(w, out, 1)
            touched.update(zip(out, out[1:]))
        self.pair_count.pop(pair, None)
        for p in touched:
            if self.pair_count.get(p, 0) > 0:
                heapq.heappush(self.heap, (-self.pair_count[p], p))
        return merged


def train_wordpiece_vocabulary(texts, vocabulary_size, lowercase=True, strip_accents=None,
                               special_tokens=SPECIAL_TOKENS, min_frequency=2):
    """A WordPiece vocabulary (list of tokens; id = position) learned from `texts`.

    Special tokens come first ("[PAD]" = 0), then the character alphabet, then merged pieces
    in merge order. Pairs seen fewer than `min_frequency` times are not merged.
    """
    if vocabulary_size <= len(special_tokens):
        raise ValueError(f"vocabulary_size {vocabulary_size} must exceed the "
                         f"{len(special_tokens)} special tokens")
    words = count_words(texts, lowercase, strip_accents)
    symbols = _alphabet(words, vocabulary_size - len(special_tokens))
    merger = _PairMerger(words, symbols)
    vocab = list(special_tokens) + symbols
    seen = set(vocab)
    while len(vocab) < vocabulary_size:
        pair = merger.best_pair()
        if pair is None or merger.pair_count[pair] < min_frequency:
            break
        token = merger.merge(pair)
        if token not in seen:  # the same string can arise from two different splits
            seen.add(token)
            vocab.append(token)
    logging.info("WordPiece vocabulary: %d tokens from %d distinct words", len(vocab), len(words))
    return vocab
