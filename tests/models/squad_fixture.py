"""The committed SQuAD paragraphs (tests/fixtures/squad_sample.json) as flat examples."""
import json
import pathlib

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "squad_sample.json"
VOCAB = FIXTURE.parent / "wordpiece_vocab_uncased.txt"


def examples():
    """[(question, context, first answer's (start, end) code-point span, answer texts)]."""
    out = []
    for article in json.loads(FIXTURE.read_text("utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                first = qa["answers"][0]
                span = (first["answer_start"], first["answer_start"] + len(first["text"]))
                out.append((qa["question"], paragraph["context"], span,
                            [a["text"] for a in qa["answers"]]))
    return out
