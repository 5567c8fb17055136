"""Shared test harness for keras_llm layers and models.

`run_layer_test` and `run_model_test` check, for one layer/model configuration:
  1. config: `get_config()` -> json.dumps -> from_config, same weights -> equal outputs;
  2. `.keras` file save/load -> equal outputs;
  3. a real TF SavedModel (`tf.saved_model.save` of a tf.Module with an explicit
     input signature) -> `tf.saved_model.load` -> equal outputs;
  4. XLA: forward pass and one training step with `jit_compile=True`
     (`xla_training=False` trains without XLA, for the fast tier);
  5. mixed precision: forward + one training step under the `mixed_bfloat16` policy
     (`xla_mixed_training=True` compiles that step with XLA too).
`reload_saved_model_in_subprocess` repeats step 3 in a fresh Python process.

Layers are wrapped in a functional model whose inputs are the named call arguments
(first one positional), so every check runs through the same model code path.
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import keras
import numpy as np
import tensorflow as tf

ATOL = 1e-5


def _flatten(outputs):
    return [np.asarray(keras.ops.convert_to_numpy(x)) for x in keras.tree.flatten(outputs)]


def assert_outputs_close(actual, expected, atol=ATOL, what=""):
    actual, expected = _flatten(actual), _flatten(expected)
    assert len(actual) == len(expected), what
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a.astype("float32"), e.astype("float32"), atol=atol,
                                   rtol=0, err_msg=what)


def _signature(inputs):
    """tf.TensorSpec per input, batch and length dims left open (None)."""
    def spec(name, value):
        value = np.asarray(value)
        shape = [None] * min(value.ndim, 2) + list(value.shape[2:])
        return tf.TensorSpec(shape, tf.as_dtype(value.dtype), name=name)
    if isinstance(inputs, dict):
        return {name: spec(name, value) for name, value in inputs.items()}
    return spec("inputs", inputs)


def export_saved_model(model, inputs, path):
    """Writes `model` as a SavedModel with a `serving_default` signature over `inputs`."""
    module = tf.Module()
    module.model = model

    @tf.function(input_signature=[_signature(inputs)])
    def serve(x):
        outputs = model(x, training=False)
        return outputs if isinstance(outputs, dict) else {"outputs": outputs}
    module.serve = serve
    tf.saved_model.save(module, path, signatures={"serving_default": serve})
    return path


def check_saved_model(model, inputs, expected, atol=ATOL):
    with tempfile.TemporaryDirectory() as tmp:
        path = export_saved_model(model, inputs, os.path.join(tmp, "saved"))
        loaded = tf.saved_model.load(path)
        outputs = loaded.signatures["serving_default"](**_as_kwargs(inputs))
        expected_dict = expected if isinstance(expected, dict) else {"outputs": expected}
        for key, value in expected_dict.items():
            assert_outputs_close(outputs[key], value, atol, f"SavedModel output {key}")


def _as_kwargs(inputs):
    if isinstance(inputs, dict):
        return {k: tf.constant(v) for k, v in inputs.items()}
    return {"inputs": tf.constant(inputs)}


def reload_saved_model_in_subprocess(path, inputs, expected, atol=ATOL):
    """Loads the SavedModel at `path` in a fresh Python (no keras_llm import) and compares."""
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(os.path.join(tmp, "inputs.npz"), **_as_numpy_dict(inputs))
        expected = expected if isinstance(expected, dict) else {"outputs": expected}
        np.savez(os.path.join(tmp, "expected.npz"), **_as_numpy_dict(expected))
        script = textwrap.dedent(f"""
            import numpy as np, tensorflow as tf, sys
            assert "keras_llm" not in sys.modules
            loaded = tf.saved_model.load({path!r})
            fn = loaded.signatures["serving_default"]
            inputs = dict(np.load({os.path.join(tmp, 'inputs.npz')!r}))
            expected = dict(np.load({os.path.join(tmp, 'expected.npz')!r}))
            out = fn(**{{k: tf.constant(v) for k, v in inputs.items()}})
            for k, v in expected.items():
                np.testing.assert_allclose(out[k].numpy().astype("float32"), v, atol={atol},
                                           rtol=0, err_msg=k)
            print("SUBPROCESS_OK")
            """)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                                text=True, env=env, timeout=300)
        assert "SUBPROCESS_OK" in result.stdout, result.stderr[-3000:]


def _as_numpy_dict(values):
    if isinstance(values, dict):
        return {k: np.asarray(keras.ops.convert_to_numpy(v)).astype(
            "float32" if np.asarray(v).dtype.kind == "f" else np.asarray(v).dtype)
            for k, v in values.items()}
    return {"inputs": np.asarray(values)}


def check_config_round_trip(model, inputs, expected):
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    clone = keras.saving.deserialize_keras_object(config)
    clone(inputs)
    clone.set_weights(model.get_weights())
    assert_outputs_close(clone(inputs, training=False), expected, what="config round trip")


def check_keras_file(model, inputs, expected):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert_outputs_close(loaded(inputs, training=False), expected, what=".keras reload")


def _mean_square_loss(y_true, y_pred):
    del y_true
    return keras.ops.mean(keras.ops.square(keras.ops.cast(y_pred, "float32")))


def check_train_step(model, inputs, targets=None, loss=None, jit_compile=True):
    """One optimizer step: loss finite, every trainable weight that gets a gradient moves."""
    if loss is None:  # generic loss on any output structure
        outputs = model(inputs)
        targets = keras.tree.map_structure(lambda o: np.zeros(o.shape, "float32"), outputs)
        loss = keras.tree.map_structure(lambda _: _mean_square_loss, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, jit_compile=jit_compile)
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = model.train_on_batch(inputs, targets, return_dict=True)
    assert np.isfinite(logs["loss"]), logs
    moved = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert any(moved), "no trainable weight changed after a training step"
    return logs


def check_xla_forward(model, inputs, expected, atol=1e-4):
    forward = tf.function(lambda x: model(x, training=False), jit_compile=True)
    assert_outputs_close(forward(inputs), expected, atol, "XLA forward")


def check_mixed_precision(build_fn, inputs, targets=None, loss=None, jit_compile=False):
    """Builds under mixed_bfloat16: bf16 compute, float32 variables, finite outputs/step."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_fn()
        outputs = _flatten(model(inputs, training=False))
        assert all(np.all(np.isfinite(o.astype("float32"))) for o in outputs)
        assert all(w.dtype == "float32" for w in model.weights if w.dtype != "int64")
        assert any(l.compute_dtype == "bfloat16" for l in model._flatten_layers())
        check_train_step(model, inputs, targets, loss, jit_compile=jit_compile)
    finally:
        keras.config.set_dtype_policy("float32")


def run_model_test(build_fn, inputs, targets=None, loss=None, expected_output_shapes=None,
                   run_saved_model=True, run_mixed_precision=True, run_training=True,
                   xla_training=True, xla_mixed_training=False):
    """All harness checks for the keras.Model returned by `build_fn()` on `inputs`.

    XLA compilation of a training step costs ~15 s on a busy 2-core machine, so the
    default test tier turns `xla_training` off where another test already covers the
    same blocks under XLA; the slow tier runs every check.
    """
    model = build_fn()
    expected = model(inputs, training=False)
    if expected_output_shapes is not None:
        shapes = keras.tree.map_structure(lambda x: tuple(x.shape), expected)
        assert shapes == expected_output_shapes, shapes
    check_config_round_trip(model, inputs, expected)
    check_keras_file(model, inputs, expected)
    if run_saved_model:
        check_saved_model(model, inputs, expected)
    check_xla_forward(model, inputs, expected)
    if run_training:
        check_train_step(model, inputs, targets, loss, jit_compile=xla_training)
    if run_mixed_precision:
        check_mixed_precision(build_fn, inputs, targets, loss, jit_compile=xla_mixed_training)
    return model


def layer_model(layer_fn, inputs, call_kwargs=None):
    """Functional model: keras.Input per named input -> layer(first, **rest, **call_kwargs)."""
    layer = layer_fn()
    symbolic = {name: keras.Input(shape=np.asarray(v).shape[1:], dtype=str(np.asarray(v).dtype),
                                  name=name) for name, v in inputs.items()}
    names = list(inputs)
    rest = {name: symbolic[name] for name in names[1:]}
    outputs = layer(symbolic[names[0]], **rest, **(call_kwargs or {}))
    return keras.Model(symbolic, outputs)


def run_layer_test(layer_cls, init_kwargs, inputs, call_kwargs=None, expected_output_shape=None,
                   **run_kwargs):
    """Harness checks for `layer_cls(**init_kwargs)` called on the named `inputs` dict.

    Also checks the layer's own `get_config()` survives JSON and rebuilds an equal layer.
    """
    layer = layer_cls(**init_kwargs)
    config = json.loads(json.dumps(layer.get_config()))
    clone = layer_cls.from_config(config)
    assert clone.get_config() == layer.get_config()

    # Without "dtype" the rebuilt layer follows the global policy (mixed precision check).
    config = {k: v for k, v in config.items() if k != "dtype"}

    def build_fn():
        return layer_model(lambda: layer_cls.from_config(config), inputs, call_kwargs)
    model = run_model_test(build_fn, inputs, **run_kwargs)
    if expected_output_shape is not None:
        assert tuple(model(inputs).shape) == tuple(expected_output_shape)
    return model
