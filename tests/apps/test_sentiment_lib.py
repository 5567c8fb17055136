"""Sentiment app pieces without training: TSV reading, configs, distillation wiring."""
import numpy as np
import pytest

from apps.sentiment import config as config_lib
from apps.sentiment import data
from apps.sentiment.task import SentimentTask
from keras_llm.finetune import Distiller
from keras_llm.utils.config import from_dict, override, to_dict


def test_read_tsv_and_bad_rows(tmp_path):
    good = tmp_path / "good.tsv"
    good.write_text("sentence\tlabel\na fine film \t1\ndull \t0\n", encoding="utf-8")
    texts, labels = data.read_tsv(good)
    assert texts == ["a fine film", "dull"] and labels.tolist() == [1, 0]
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\noops\t7\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        data.read_tsv(bad)
    with pytest.raises(FileNotFoundError, match="data_dir"):
        data.read_tsv(tmp_path / "missing.tsv")


def test_configs_round_trip_through_the_workdir_json():
    for config in config_lib.CONFIGS.values():
        assert from_dict(config_lib.SentimentConfig, to_dict(config)) == config


def test_teacher_logits_make_a_distiller_and_are_checked(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\na\t1\nb\t0\n", encoding="utf-8")
    teacher = tmp_path / "t.npy"
    np.save(teacher, np.zeros((2, 2), np.float32))
    config = override(config_lib.CONFIGS["tiny"], [f"data_dir={tmp_path}",
                                                   f"teacher_logits={teacher}"])
    task = SentimentTask(config)
    assert isinstance(task.distiller(object(), None), Distiller)
    assert SentimentTask(config_lib.CONFIGS["tiny"]).distiller(object(), None) is None
    np.save(teacher, np.zeros((2, 3), np.float32))
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
        task.train_batches(tmp_path)
