"""Tiny SavedModels for the serving tests and for debugging the load benchmark.

Version 1 and 2 of model "toy" answer differently so tests can tell them apart.
Signatures (B batch):
  serving_default: text string [B] -> label string [B], probabilities float32 [B, 2]
  classify (method tensorflow/serving/classify): inputs = serialized tf.Example [B]
      -> classes string [B, 2], scores float32 [B, 2]
  regress (method tensorflow/serving/regress): inputs [B] -> outputs float32 [B]
  multi: text string [B], weight float32 [B] -> scaled float32 [B], echo_bytes string [B]
  matrix: x float32 [B, 3] -> y float32 [B]
"""
import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2


class ToyModule(tf.Module):
    def __init__(self, version):
        super().__init__()
        self.version = version
        self.names = tf.constant(["NEGATIVE", "POSITIVE"] if version > 1
                                 else ["negative", "positive"])
        self.high = tf.Variable(0.8 if version > 1 else 0.9)

    def _predict(self, text):
        positive = tf.strings.regex_full_match(tf.strings.lower(text), ".*good.*")
        index = tf.cast(positive, tf.int32)                              # (B,)
        p_pos = tf.where(positive, self.high, 1.0 - self.high)           # (B,)
        probabilities = tf.stack([1.0 - p_pos, p_pos], axis=1)           # (B, 2)
        return {"label": tf.gather(self.names, index), "probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        return self._predict(text)

    def _texts(self, inputs):
        spec = {"text": tf.io.FixedLenFeature([], tf.string, default_value="")}
        return tf.io.parse_example(inputs, spec)["text"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        probabilities = self._predict(self._texts(inputs))["probabilities"]
        classes = tf.tile(self.names[tf.newaxis, :], [tf.shape(inputs)[0], 1])
        return {"classes": classes, "scores": probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(self, inputs):
        length = tf.cast(tf.strings.length(self._texts(inputs)), tf.float32)
        return {"outputs": length * float(self.version)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([None], tf.float32, name="weight")])
    def multi(self, text, weight):
        length = tf.cast(tf.strings.length(text), tf.float32)
        return {"scaled": weight * length, "echo_bytes": text}

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def matrix(self, x):
        return {"y": tf.reduce_sum(x, axis=1) * float(self.version)}


def write_toy_version(path, version, warmup=True):
    """Writes version `version` of the toy model into folder `path` (not atomic)."""
    module = ToyModule(version)
    signatures = {"serving_default": module.serve, "classify": module.classify,
                  "regress": module.regress, "multi": module.multi, "matrix": module.matrix}
    tf.saved_model.save(module, path, signatures=signatures)
    _set_method_names(path, {"classify": "tensorflow/serving/classify",
                             "regress": "tensorflow/serving/regress"})
    if warmup:
        write_warmup(path, "toy", [b"warm good", b"warm"])
    return path


def _set_method_names(path, methods):
    """TF2 saves every signature as 'predict'; stock Classify/Regress need these names."""
    pb_path = os.path.join(path, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel.FromString(open(pb_path, "rb").read())
    for name, method in methods.items():
        saved_model.meta_graphs[0].signature_def[name].method_name = method
    with open(pb_path, "wb") as f:
        f.write(saved_model.SerializeToString())


def write_warmup(path, model_name, texts):
    extra = os.path.join(path, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(extra, "tf_serving_warmup_requests")) as writer:
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name))
        request.inputs["text"].CopyFrom(tf.make_tensor_proto(texts, dtype=tf.string))
        log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
        writer.write(log.SerializeToString())


if __name__ == "__main__":
    import sys
    write_toy_version(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)

