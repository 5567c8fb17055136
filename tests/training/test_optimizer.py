"""Learning-rate schedule and the weight-decay exclusions."""
import keras
import numpy as np

from keras_llm.training.config import OptimizerConfig
from keras_llm.training.optimizer import WarmupDecay, build_optimizer, decays


def test_warmup_then_linear_and_cosine_decay():
    linear = WarmupDecay(1.0, warmup_steps=10, total_steps=110, decay="linear")
    np.testing.assert_allclose([float(linear(s)) for s in (0, 4, 9, 10, 60, 110, 500)],
                               [0.1, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0], atol=1e-6)
    cosine = WarmupDecay(1.0, 10, 110, "cosine", end_fraction=0.1)
    np.testing.assert_allclose([float(cosine(s)) for s in (10, 60, 110)], [1.0, 0.55, 0.1],
                               atol=1e-6)


def test_no_weight_decay_on_layer_norm_and_bias():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, name="dense")(inputs)
    x = keras.layers.LayerNormalization(name="ln")(x)
    model = keras.Model(inputs, keras.layers.Embedding(3, 2, name="emb")(keras.ops.cast(x, "int32")))
    optimizer = build_optimizer(OptimizerConfig(), 100, model, "float32")
    decayed = {v.path: decays(optimizer, v) for v in model.trainable_variables}
    assert decayed == {"dense/kernel": True, "dense/bias": False, "ln/gamma": False,
                       "ln/beta": False, "emb/embeddings": True}
