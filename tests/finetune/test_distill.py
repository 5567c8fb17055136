"""Distillation: soft-target losses for sequence, token and span heads; a fixed teacher pulls a
student toward it (teacher logits in y, or a teacher model)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_llm.finetune.distill import Distiller, soft_target_loss


def test_soft_target_loss_values_and_shapes():
    logits = tf.constant([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    assert np.allclose(soft_target_loss(logits, logits, "kl"), 0.0, atol=1e-6)
    np.testing.assert_allclose(soft_target_loss(logits, logits + [[1.0, 1.0, 1.0]], "mse"),
                               [1.0, 1.0])
    p, q = tf.nn.softmax([1.0, 0.0]), tf.nn.softmax([0.0, 1.0])
    expected = float(tf.reduce_sum(p * (tf.math.log(p) - tf.math.log(q))))
    np.testing.assert_allclose(soft_target_loss(tf.constant([[0.0, 1.0]]),
                                                tf.constant([[1.0, 0.0]]), "kl"), [expected],
                               rtol=1e-5)
    # Token heads (B, T, C): padding positions (mask 0) do not count.
    student = tf.zeros([1, 3, 2])
    teacher = tf.constant([[[0.0, 0.0], [0.0, 0.0], [9.0, -9.0]]])
    assert float(soft_target_loss(student, teacher, "kl", mask=tf.constant([[1, 1, 0]]))[0]) == 0
    # Span heads (B, T): masked positions leave both distributions.
    start_s = tf.constant([[1.0, 2.0, 50.0]])
    start_t = tf.constant([[1.0, 2.0, -50.0]])
    assert abs(float(soft_target_loss(start_s, start_t, "kl", mask=tf.constant([[1, 1, 0]]))[0])) < 1e-5
    with pytest.raises(ValueError, match="kind"):
        soft_target_loss(logits, logits, "l1")


def _student():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3)(inputs))


def _data():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    return x, teacher, teacher.predict(x, verbose=0)


@pytest.mark.parametrize("kind", ["kl", "mse"])
def test_a_fixed_teacher_pulls_the_student_toward_it(kind):
    x, _, teacher_logits = _data()
    labels = np.zeros(64, np.int32)
    student = _student()
    before = float(tf.reduce_mean(soft_target_loss(student(x), teacher_logits, kind)))
    distiller = Distiller(student, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          alpha=1.0, kind=kind)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05))
    distiller.fit(x, (labels, teacher_logits), epochs=30, batch_size=16, verbose=0)
    after = float(tf.reduce_mean(soft_target_loss(student(x), teacher_logits, kind)))
    assert after < 0.1 * before
    agree = np.mean(student(x).numpy().argmax(-1) == teacher_logits.argmax(-1))
    assert agree > 0.9


def test_a_teacher_model_and_the_label_mix():
    x, teacher, teacher_logits = _data()
    student = _student()
    distiller = Distiller(student, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          teacher=teacher, alpha=0.5, temperature=2.0)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05),
                      metrics=[keras.metrics.SparseCategoricalAccuracy()])
    before = [w.numpy().copy() for w in teacher.weights]
    distiller.fit(x, teacher_logits.argmax(-1), epochs=20, batch_size=16, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, teacher.weights))
    assert np.mean(student(x).numpy().argmax(-1) == teacher_logits.argmax(-1)) > 0.9
    with pytest.raises(ValueError, match="alpha"):
        Distiller(student, None, alpha=1.5)
