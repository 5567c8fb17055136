"""TF Serving warmup records: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `PredictionLog` protos that the server replays when it loads a version
(at most 1000 records; a failing record fails the load), so the first real request does not
pay for graph warm-up.
"""
import os
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_RECORDS = 1000


def predict_log(signature_name: str, inputs: Mapping[str, np.ndarray],
                model_name: str = "model") -> prediction_log_pb2.PredictionLog:
    """A Predict request on `signature_name` with the given input arrays."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request))


def classify_log(signature_name: str, examples: Sequence[tf.train.Example],
                 model_name: str = "model") -> prediction_log_pb2.PredictionLog:
    """A Classify request on `signature_name` with the given tf.Examples."""
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    request.input.example_list.examples.extend(examples)
    return prediction_log_pb2.PredictionLog(
            classify_log=prediction_log_pb2.ClassifyLog(request=request))


def write_warmup_requests(export_dir, logs: Sequence[prediction_log_pb2.PredictionLog]) -> str:
    """Writes `logs` to `<export_dir>/assets.extra/tf_serving_warmup_requests`."""
    if not logs:
        raise ValueError("No warmup requests given.")
    if len(logs) > MAX_RECORDS:
        raise ValueError(f"TF Serving replays at most {MAX_RECORDS} warmup records, "
                         f"got {len(logs)}.")
    directory = os.path.join(export_dir, WARMUP_DIR)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(export_dir) -> list:
    """The PredictionLogs of a version folder's warmup file ([] if there is none)."""
    path = os.path.join(export_dir, WARMUP_DIR, WARMUP_FILE)
    if not os.path.exists(path):
        return []
    logs = []
    for record in tf.data.TFRecordDataset(path):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs


def text_example(features: Mapping[str, str]) -> tf.train.Example:
    """A tf.Example with one bytes feature per (name, text)."""
    feature = {
            name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")]))
            for name, text in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature))
