"""shrink.select_layers: a student BERT keeping some of its teacher's encoder layers
(DistilBERT-style start) with the teacher's embeddings, pooler and vocabulary; and the
fine-tuning config that asks for it (model.layers)."""
import numpy as np
import pytest

from keras_llm.finetune.bert import BertModelConfig, build_backbone
from keras_llm.models.bert.backbone import BertBackbone
from keras_llm.models.bert.shrink import select_layers


def _inputs():
    rng = np.random.default_rng(0)
    return {"token_ids": rng.integers(0, 50, (2, 7)).astype("int32"),
            "segment_ids": np.zeros((2, 7), "int32"),
            "padding_mask": np.array([[1] * 7, [1] * 4 + [0] * 3], "int32")}


def test_all_layers_is_the_same_model_and_a_subset_copies_the_chosen_blocks():
    teacher = BertBackbone(50, 4, 2, 16, 32, max_sequence_length=8, dropout=0.0)
    same = select_layers(teacher, range(4))
    for key, value in teacher(_inputs()).items():
        np.testing.assert_allclose(same(_inputs())[key], value, atol=1e-6)
    student = select_layers(teacher, (1, 3))
    assert student.num_layers == 2 and student.vocabulary_size == teacher.vocabulary_size
    for j, i in enumerate((1, 3)):
        for a, b in zip(student.transformer_layers[j].get_weights(),
                        teacher.transformer_layers[i].get_weights()):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(student.token_embedding.get_weights()[0],
                                  teacher.token_embedding.get_weights()[0])
    # A 2-layer BERT with the copied weights: the student is embeddings -> blocks 1, 3.
    assert student(_inputs())["sequence_output"].shape == (2, 7, 16)


@pytest.mark.parametrize("layers", [(), (0, 4), (1, 1), (-1,)])
def test_bad_layer_choices_raise(layers):
    teacher = BertBackbone(50, 4, 2, 16, 32, max_sequence_length=8)
    with pytest.raises(ValueError, match="distinct indices"):
        select_layers(teacher, layers)


def test_config_layers_need_a_preset(tmp_path):
    with pytest.raises(ValueError, match="model.layers"):
        build_backbone(BertModelConfig(kind="small", layers=(0, 2)), tmp_path)
