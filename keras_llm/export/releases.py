"""Which stock TF Serving releases can load a graph, given its non-core ops.

Stock TF Serving links one pinned TF-Text per release (tf_serving_protocol.md, "Custom ops"):

| TF Serving | TF-Text bundled |
|---|---|
| 2.11.0 | 2.8.2 |
| 2.12.0 - 2.19.1 | 2.12.1 |
| 2.20.0 | 2.20.0 |

A graph of core ops only loads on all of them. A TF-Text op loads where the bundled TF-Text
has it; `TFTEXT_MIN_VERSION` records the first TF-Text able to run each op we know about
(`TFText>RoundRobinTrim`, used by KerasHub's MultiSegmentPacker, fails on <= 2.19: serving#2267).
Another `TFText>` op is assumed to need the newest bundled TF-Text (2.20.0): these
kernel names are the recent ones. Any other non-core op is loadable nowhere (unknown kernel).
"""
from typing import Dict, Iterable, List, Tuple

# (TF Serving releases, bundled TF-Text version as a tuple)
SERVING_RELEASES: Tuple[Tuple[str, Tuple[int, ...]], ...] = (
        ("2.11.0", (2, 8, 2)),
        ("2.12.0-2.19.1", (2, 12, 1)),
        ("2.20.0", (2, 20, 0)),
)

# TF-Text op -> first TF-Text version whose kernels stock TF Serving can run.
TFTEXT_MIN_VERSION: Dict[str, Tuple[int, ...]] = {
        "CaseFoldUTF8": (2, 0, 0),
        "NormalizeUTF8": (2, 0, 0),
        "NormalizeUTF8WithOffsetsMap": (2, 5, 0),
        "RegexSplitWithOffsets": (2, 0, 0),
        "WhitespaceTokenizeWithOffsets": (2, 0, 0),
        "WhitespaceTokenizeWithOffsetsV2": (2, 7, 0),
        "TFText>WhitespaceTokenizeWithOffsetsV2": (2, 7, 0),
        "WordpieceTokenizeWithOffsets": (2, 0, 0),
        "FastWordpieceTokenizeWithOffsets": (2, 7, 0),
        "FastBertNormalize": (2, 7, 0),
        "SentencepieceOp": (2, 0, 0),
        "SentencepieceTokenizeOp": (2, 0, 0),
        "SentencepieceTokenizeWithOffsetsOp": (2, 0, 0),
        "SentencepieceDetokenizeOp": (2, 0, 0),
        "TFText>RoundRobinTrim": (2, 20, 0),
        "TFText>RoundRobinGenerateMasks": (2, 20, 0),
}


NEWEST_TFTEXT = SERVING_RELEASES[-1][1]


def min_tftext_version(op: str):
    """First bundled TF-Text version that runs `op`, or None for an unknown kernel."""
    if op in TFTEXT_MIN_VERSION:
        return TFTEXT_MIN_VERSION[op]
    return NEWEST_TFTEXT if op.startswith("TFText>") else None


def loadable_releases(non_core_ops: Iterable[str]) -> List[str]:
    """TF Serving releases (from the table above) whose kernels cover every op given."""
    needed = [min_tftext_version(op) for op in non_core_ops]
    releases = []
    for release, tftext in SERVING_RELEASES:
        if all(version is not None and tftext >= version for version in needed):
            releases.append(release)
    return releases


def describe(non_core_ops: Iterable[str]) -> str:
    ops = sorted(non_core_ops)
    if not ops:
        return "core TensorFlow ops only: loads on every stock TF Serving release"
    releases = loadable_releases(ops)
    unknown = [op for op in ops if min_tftext_version(op) is None]
    text = f"non-core ops {ops}: "
    text += f"loads only on TF Serving {', '.join(releases)}" if releases else (
            "no stock TF Serving release is known to load it")
    if unknown:
        text += f" (ops of unknown origin: {unknown})"
    return text
