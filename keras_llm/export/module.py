"""Task export modules: raw text in -> preprocess -> model -> postprocess -> named outputs.

`TextTaskModule` is the base of every task's SavedModel (sentiment now; QA, NER, translation
and generation later). A subclass chooses its raw inputs (`TEXT_INPUTS`), how text becomes
model inputs (`preprocess`, which may also return context such as character offsets for
QA/NER), how the model runs (`forward`: one call, or a decoding loop with a KV cache) and how
outputs are named (`postprocess`). The base turns these hooks into signatures:

- `text_signature(extra_inputs)`: the raw strings, each tf.string (B,), plus optional
  per-row parameters (e.g. generation's `max_new_tokens` int32 (B,)) -> named outputs.
- `example_signature(fn)`: serialized tf.Examples under `inputs` (TF Serving's Classify /
  Regress form), one bytes feature per raw input name.
- `model_signature(fn)`: already-tokenized `token_ids`/`segment_ids`/`padding_mask` (B, T).

Every graph op must be core TensorFlow (no tensorflow_text), so stock TF Serving loads it.
Shapes: B batch, T tokens.
"""
from typing import Callable, Dict, Mapping, Sequence, Tuple

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.trackable.data_structures import NoDependency

from keras_llm.export import versions
from keras_llm.export import warmup

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

# Inputs a server may send: empty, long, any script, emoji; run by warmup and `check`.
EXAMPLE_TEXTS = (
        "",
        "a gripping , funny and moving film .",
        "Ünïcödé: 映画はとても良かった 😀 — «très bien» ¡olé!",
        "long " * 3000,
)


class TextTaskModule(tf.Module):
    """Base SavedModel module; see the module docstring for the hooks."""

    TEXT_INPUTS: Tuple[str, ...] = ("text",)
    MODEL_INPUTS: Tuple[str, ...] = ("token_ids", "segment_ids", "padding_mask")

    def __init__(self, preprocessor, model, max_input_chars: int = 8192, name=None):
        super().__init__(name=name)
        if max_input_chars <= 0:
            raise ValueError(f"max_input_chars must be positive, got {max_input_chars}.")
        self.preprocessor = preprocessor
        # The model's variables are saved; the Keras model object itself is not tracked, so
        # tf.saved_model does not also trace and store its own default call functions.
        self.model = NoDependency(model)
        self.model_variables = list(model.variables) if model is not None else []
        self.max_input_chars = max_input_chars
        spec = {n: tf.TensorSpec([None, None], tf.int32, name=n) for n in self.MODEL_INPUTS}
        # Held in a plain dict: a tf.function attribute would also be traced and saved on
        # its own, a second copy of the model's graph in saved_model.pb.
        self._functions = NoDependency({"model": tf.function(
                lambda inputs: self.model(inputs, training=False), input_signature=[spec])})

    # ---- hooks -------------------------------------------------------------------------------
    def preprocess(self, texts: Mapping[str, tf.Tensor]) -> Tuple[Dict[str, tf.Tensor], dict]:
        """Raw strings -> (model inputs, context for postprocess).

        The preprocessor gets every `TEXT_INPUTS` tensor in order: one text alone, several
        as a tuple (e.g. `(question, context)` pairs)."""
        inputs = tuple(texts[name] for name in self.TEXT_INPUTS)
        return self.preprocessor(inputs[0] if len(inputs) == 1 else inputs), {}

    def forward(self, model_inputs: Mapping[str, tf.Tensor]):
        return self.call_model(model_inputs)

    def call_model(self, model_inputs: Mapping[str, tf.Tensor]):
        """The model on `MODEL_INPUTS` (B, T) int32, through one shared tf.function, so every
        signature calls the same function instead of holding its own copy of the model's
        graph (saved_model.pb stays small)."""
        return self._functions["model"]({n: tf.cast(model_inputs[n], tf.int32)
                                         for n in self.MODEL_INPUTS})

    def postprocess(self, outputs, context: dict) -> Dict[str, tf.Tensor]:
        raise NotImplementedError

    def signatures(self) -> Dict[str, tf.types.experimental.ConcreteFunction]:
        raise NotImplementedError

    def method_names(self) -> Dict[str, str]:
        """Signature name -> SignatureDef method_name, for non-Predict signatures."""
        return {}

    def warmup_logs(self) -> list:
        """PredictionLogs replayed by TF Serving at load (default: the text signature)."""
        inputs = {name: tf.constant(EXAMPLE_TEXTS).numpy() for name in self.TEXT_INPUTS}
        return [warmup.predict_log("serving_default", inputs)]

    # ---- signature builders -------------------------------------------------------------------
    def clean_text(self, text: tf.Tensor, max_chars=None, keep_end=False) -> tf.Tensor:
        """Valid UTF-8 (bad bytes -> U+FFFD), cut to `max_chars` (default `max_input_chars`)
        characters: the first ones, or the last ones with `keep_end` (a prompt's end).

        Cutting first bounds the tokenizer's work on huge inputs; the packer truncates tokens.
        """
        max_chars = max_chars or self.max_input_chars
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        if keep_end:
            length = tf.strings.length(text, unit="UTF8_CHAR")
            return tf.strings.substr(text, tf.maximum(length - max_chars, 0),
                                     tf.fill(tf.shape(length), max_chars), unit="UTF8_CHAR")
        return tf.strings.substr(text, 0, max_chars, unit="UTF8_CHAR")

    def serve_text(self, inputs: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """`TEXT_INPUTS` cleaned, any other inputs (per-row parameters) passed through."""
        inputs = dict(inputs)
        for name in self.TEXT_INPUTS:
            inputs[name] = self.clean_text(inputs[name])
        model_inputs, context = self.preprocess(inputs)
        return self.postprocess(self.forward(model_inputs), context)

    def text_signature(self, extra_inputs: Mapping[str, tf.DType] = None, fn=None):
        """Signature over `TEXT_INPUTS` (tf.string (B,)) and `extra_inputs` (name -> dtype,
        each (B,)), calling `fn` (default `serve_text`) with the dict of them."""
        spec = {n: tf.TensorSpec([None], tf.string, name=n) for n in self.TEXT_INPUTS}
        spec.update({n: tf.TensorSpec([None], dtype, name=n)
                     for n, dtype in (extra_inputs or {}).items()})
        return tf.function(fn or self.serve_text,
                           input_signature=[spec]).get_concrete_function()

    def example_signature(self, output_fn: Callable[[dict], dict]):
        """`inputs` (B,) serialized tf.Examples -> output_fn(named outputs)."""
        features = {n: tf.io.FixedLenFeature([], tf.string, default_value="")
                    for n in self.TEXT_INPUTS}

        def serve_examples(inputs):
            texts = tf.io.parse_example(inputs, features)
            return output_fn(self.serve_text(texts))

        spec = tf.TensorSpec([None], tf.string, name="inputs")
        return tf.function(serve_examples, input_signature=[spec]).get_concrete_function()

    def model_signature(self, output_fn: Callable[[object], dict]):
        """Token ids and masks (B, T) int32 -> output_fn(model outputs)."""
        def serve_ids(inputs):
            return output_fn(self.forward(inputs))

        spec = {n: tf.TensorSpec([None, None], tf.int32, name=n) for n in self.MODEL_INPUTS}
        return tf.function(serve_ids, input_signature=[spec]).get_concrete_function()


def save(module: TextTaskModule, export_dir) -> None:
    """Writes `module` as a SavedModel (+ warmup requests) into `export_dir`."""
    export_dir = str(export_dir)
    # Serving computes no gradients: leave out custom-gradient functions (int8 layers have
    # them), which would only grow saved_model.pb.
    options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
    tf.saved_model.save(module, export_dir, signatures=module.signatures(), options=options)
    _set_method_names(export_dir, module.method_names())
    warmup.write_warmup_requests(export_dir, module.warmup_logs())


def export(module: TextTaskModule, base_dir, version=None, overwrite=False):
    """Saves `module` as `<base_dir>/<version>/` atomically; returns that folder."""
    return versions.write_version(base_dir, lambda d: save(module, d), version=version,
                                  overwrite=overwrite)


def _set_method_names(export_dir: str, method_names: Mapping[str, str]) -> None:
    """TF Serving's Classify/Regress APIs expect the matching SignatureDef method_name;
    tf.saved_model.save writes every signature as Predict, so we patch saved_model.pb."""
    if not method_names:
        return
    path = f"{export_dir}/saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        proto.ParseFromString(f.read())
    signature_defs = proto.meta_graphs[0].signature_def
    for name, method in method_names.items():
        if name not in signature_defs:
            raise ValueError(f"method_names names unknown signature {name!r}.")
        signature_defs[name].method_name = method
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(proto.SerializeToString())


def example_inputs(texts: Sequence[str] = EXAMPLE_TEXTS) -> tf.Tensor:
    return tf.constant(list(texts))
