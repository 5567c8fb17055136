"""Extractive QA (SQuAD v1.1) on the fine-tuning library: a BertQuestionAnswerer over windows.

Training examples are windows (keras_llm.models.bert.span_preprocessor): each has the answer's
first/last token as targets, or [CLS] (0) when the window lacks it. Evaluation answers every
question from all its windows and scores EM/F1 with the official v1.1 normalisation.
Workdir files besides the library's (keras_llm/finetune/loop.py): vocab.txt.
"""
import keras
import numpy as np

from apps.qa import config as config_lib
from apps.qa import data
from keras_llm import export, models
from keras_llm.evaluation import squad
from keras_llm.finetune import FinetuneTask, LengthBuckets, bert, inference
from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.bert.huggingface import load_bert_question_answerer
from keras_llm.models.bert.question_answering import answer_questions
from keras_llm.models.bert.span_preprocessor import BertSpanPreprocessor

OUTPUTS = ("start_logits", "end_logits")


class QATask(FinetuneTask):
    CONFIG_CLASS = config_lib.QAConfig

    # ---- files, model, data ----------------------------------------------------------------
    def prepare(self, workdir):
        bert.write_vocabulary(self.config.model, workdir, self.vocabulary_texts)

    def vocabulary_texts(self):
        questions = self._split("train")
        return [q.question for q in questions] + sorted({q.context for q in questions})

    def _preprocessor(self, workdir) -> BertSpanPreprocessor:
        c = self.config
        return BertSpanPreprocessor(bert.vocabulary_path(workdir), c.sequence_length,
                                    c.doc_stride, c.max_question_tokens)

    def build_model(self, workdir, for_training=True):
        m = self.config.model
        if m.kind == "preset":  # keeps a checkpoint's qa_outputs head when it has one
            return load_bert_question_answerer(bert.preset_dir(m), dropout=m.dropout)
        return models.BertQuestionAnswerer(bert.build_backbone(m, workdir, for_training),
                                           dropout=m.dropout)

    def _split(self, split):
        c = self.config
        ranges = {"train": (0, c.train_articles),
                  "dev": (c.train_articles, c.train_articles + c.dev_articles)}
        if split not in ranges:
            raise ValueError(f"split must be one of {sorted(ranges)}, got {split!r}.")
        articles = data.read_articles(data.data_path(c.data_file))
        questions = data.questions(articles[slice(*ranges[split])])
        if split == "train" and c.max_examples:
            questions = questions[:c.max_examples]
        return questions

    def train_batches(self, workdir):
        questions = self._split("train")
        windows = self._preprocessor(workdir).encode(
                [q.question for q in questions], [q.context for q in questions],
                [(q.answer_start, q.answer_start + len(q.answers[0])) for q in questions])
        targets = {name: np.asarray(windows[key], np.int32) for name, key in
                   zip(OUTPUTS, ("start_positions", "end_positions"))}
        return LengthBuckets({k: windows[k] for k in INPUT_KEYS}, targets,
                             self.finetune_config.batch_size, self.config.sequence_length,
                             self.finetune_config.bucket_boundaries,
                             pad_values={"token_ids": self._preprocessor(workdir).pad_token_id},
                             shuffle=True, seed=self.finetune_config.seed)

    # ---- training ----------------------------------------------------------------------------
    def loss(self):
        """Cross entropy of the start and of the end position (over the window's tokens)."""
        return {name: keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                for name in OUTPUTS}

    # ---- evaluation, export, prediction -----------------------------------------------------
    def _scores(self, questions, answers) -> dict:
        scores = squad.squad_v1_scores({q.id: q.answers for q in questions},
                                       {q.id: a for q, a in zip(questions, answers)})
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}

    def evaluate(self, model, workdir, split="dev"):
        questions = self._split(split)
        if not questions:
            return {}
        answers = answer_questions(model, self._preprocessor(workdir),
                                   [q.question for q in questions],
                                   [q.context for q in questions],
                                   self.config.max_answer_tokens)["answer"]
        return {f"{split}_{k}": v for k, v in self._scores(questions, answers).items()}

    def evaluate_saved_model(self, path, split="dev"):
        questions = self._split(split)
        outputs = inference.run_signature(path, {"question": [q.question for q in questions],
                                                 "context": [q.context for q in questions]})
        return self._scores(questions, [a.decode("utf-8") for a in outputs["answer"]])

    def export_module(self, model, workdir):
        return export.SpanQuestionAnsweringModule(self._preprocessor(workdir), model,
                                                  self.config.max_answer_tokens)

    def predict_inputs(self, texts):
        pairs = [t.split("\t", 1) for t in texts]
        bad = [t for t, p in zip(texts, pairs) if len(p) != 2]
        if bad:
            raise ValueError(f"Each input must be 'question<TAB>context'; got {bad[0]!r}.")
        return {"question": [q for q, _ in pairs], "context": [c for _, c in pairs]}

    def predict_outputs(self, outputs, text):
        return {"answer": outputs["answer"].decode("utf-8"),
                "score": round(float(outputs["score"]), 4),
                "start": int(outputs["start"]), "end": int(outputs["end"])}
