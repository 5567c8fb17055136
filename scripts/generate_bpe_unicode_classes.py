"""Writes keras_llm/tokenizers/byte_pair_unicode.py: the \\p{L} / \\p{N} / \\s code-point ranges.

Python's `unicodedata`, the `regex` module, RE2 inside TensorFlow and Oniguruma inside Hugging Face
`tokenizers` each ship a different Unicode version, so `\\p{L}` means a different set in each. The
byte-level BPE pre-tokenizer therefore spells its classes out as explicit ranges, probed here from the
reference implementation (HF `tokenizers` ByteLevel pre-tokenizer), so that the host path, the graph
path and HF agree on every code point.

    python scripts/generate_bpe_unicode_classes.py
"""
import pathlib

from tokenizers import pre_tokenizers

OUT = pathlib.Path(__file__).resolve().parents[1] / "keras_llm" / "tokenizers" / "byte_pair_unicode.py"


def _probe():
    """Classifies every scalar value with the HF regex: "x"+c is one piece iff c joins x's class."""
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    letters, numbers, spaces = [], [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if len(pre.pre_tokenize_str("a" + c)) == 1:
            letters.append(cp)
        elif len(pre.pre_tokenize_str("1" + c)) == 1:
            numbers.append(cp)
        elif len(pre.pre_tokenize_str("!" + c)) != 1:
            spaces.append(cp)
    return letters, numbers, spaces


def _ranges(cps):
    out = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return [tuple(r) for r in out]


def _format(name, ranges):
    lines = [f"{name} = ("]
    row = []
    for lo, hi in ranges:
        row.append(f"(0x{lo:x}, 0x{hi:x}),")
        if len(row) == 6:
            lines.append("    " + " ".join(row))
            row = []
    if row:
        lines.append("    " + " ".join(row))
    lines.append(")")
    return "\n".join(lines)


def main():
    import tokenizers  # pylint: disable=import-outside-toplevel
    letters, numbers, spaces = _probe()
    body = [
        '"""Code-point classes of the GPT-2 pre-tokenizer regex (generated: do not edit).',
        "",
        "Inclusive (first, last) ranges for \\p{L} (LETTER), \\p{N} (NUMBER) and \\s (WHITESPACE),",
        f"probed from Hugging Face tokenizers {tokenizers.__version__} (Oniguruma) by",
        "    python scripts/generate_bpe_unicode_classes.py",
        "Spelled out so that the host (Python `re`) and graph (RE2) paths of BytePairTokenizer use one",
        'Unicode version, whatever Python or TensorFlow ships."""',
        "",
        _format("LETTER", _ranges(letters)),
        "",
        _format("NUMBER", _ranges(numbers)),
        "",
        _format("WHITESPACE", _ranges(spaces)),
        "",
    ]
    OUT.write_text("\n".join(body))
    print(f"wrote {OUT}: {len(letters)} letters, {len(numbers)} numbers, {len(spaces)} spaces")


if __name__ == "__main__":
    main()
