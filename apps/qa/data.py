"""SQuAD v1.1 reading: the official JSON -> one record per question, split by article."""
import json
import pathlib
from typing import List, NamedTuple, Sequence

from keras_llm.utils import paths

DEFAULT_FILE = ("squad_v1.1", "dev-v1.1.articles-00-39.json")


class Question(NamedTuple):
    id: str
    question: str
    context: str
    answers: List[str]  # every reference text (EM/F1 take the best)
    answer_start: int  # code-point offset of the first reference in `context`


def data_path(data_file: str) -> pathlib.Path:
    return pathlib.Path(data_file) if data_file else paths.shared_data_dir().joinpath(
            *DEFAULT_FILE)


def read_articles(path) -> list:
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SQuAD file {path} does not exist (set data_file, e.g. "
                                "--override=data_file=FILE).")
    return json.loads(path.read_text(encoding="utf-8"))["data"]


def questions(articles: Sequence[dict]) -> List[Question]:
    out = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                first = qa["answers"][0]
                out.append(Question(qa["id"], qa["question"], paragraph["context"],
                                    [a["text"] for a in qa["answers"]], first["answer_start"]))
    return out
