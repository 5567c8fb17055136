"""CoNLL-2003 named-entity evaluation: IOB2 tags -> entities, entity-level precision/recall/F1.

    iob2_entities(["B-PER", "I-PER", "O", "I-LOC"])   # [("PER", 0, 1), ("LOC", 3, 3)]
    entity_scores(true_sentences, predicted_sentences)  # {"precision", "recall", "f1", ...}

Entities follow conlleval (and `seqeval` in its default mode): an entity starts at B-X, and at
I-X after O or after a tag of another type (ill-formed I- tags start an entity rather than
being dropped); it continues over the following I-X tags. Tags other than B-X/I-X count as O.
An entity is (type, first word, last word); a predicted entity is correct when all three equal
a true entity of the same sentence. Scores are micro-averaged over entities (overall) and per
type, in percent.
"""
from typing import Dict, List, Sequence, Tuple

Entity = Tuple[str, int, int]  # (type, first word, last word), inclusive


def split_tag(tag: str) -> Tuple[str, str]:
    """("B" | "I" | "O", type): "B-PER" -> ("B", "PER"); anything not B-/I- -> ("O", "")."""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
        return tag[0], tag[2:]
    return "O", ""


def iob2_entities(tags: Sequence[str]) -> List[Entity]:
    """The entities of one sentence's tags, in order (see the module docstring)."""
    entities: List[Entity] = []
    previous = ""
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == "O":
            previous = ""
            continue
        if prefix == "B" or kind != previous:
            entities.append((kind, i, i))
        else:
            entities[-1] = (kind, entities[-1][1], i)
        previous = kind
    return entities


def _prf(correct: int, predicted: int, true: int) -> Dict[str, float]:
    precision = 100.0 * correct / predicted if predicted else 0.0
    recall = 100.0 * correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(true_tags: Sequence[Sequence[str]],
                  predicted_tags: Sequence[Sequence[str]]) -> dict:
    """Entity precision/recall/F1 (percent) over sentences of tags, overall and per type:
    {"precision", "recall", "f1", "entities" (true count), "sentences",
     "per_type": {type: {"precision", "recall", "f1", "support"}}}."""
    if len(true_tags) != len(predicted_tags):
        raise ValueError(f"{len(true_tags)} true sentences but {len(predicted_tags)} predicted.")
    counts: Dict[str, List[int]] = {}  # type -> [correct, predicted, true]
    for i, (true, predicted) in enumerate(zip(true_tags, predicted_tags)):
        if len(true) != len(predicted):
            raise ValueError(f"sentence {i}: {len(true)} true tags but {len(predicted)} "
                             "predicted.")
        gold, guess = set(iob2_entities(true)), set(iob2_entities(predicted))
        for entities, column in ((gold & guess, 0), (guess, 1), (gold, 2)):
            for kind, _, _ in entities:
                counts.setdefault(kind, [0, 0, 0])[column] += 1
    totals = [sum(c[k] for c in counts.values()) for k in range(3)]
    per_type = {kind: {**_prf(*c), "support": c[2]} for kind, c in sorted(counts.items())}
    return {**_prf(*totals), "entities": totals[2], "sentences": len(true_tags),
            "per_type": per_type}
