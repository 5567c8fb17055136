"""One loaded SavedModel version: its signatures, input checks and calls.

Shapes: B batch (first dimension of every input and output of a signature).
Inputs and outputs are numpy arrays; string tensors are object arrays of bytes.
"""
import os

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.core.framework import types_pb2

from keras_llm.serving import admission
from keras_llm.serving import errors

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


def dtype_name(enum):
    """TF's DataTypeString: DT_FLOAT -> 'float', DT_STRING -> 'string'."""
    return types_pb2.DataType.Name(enum)[3:].lower()


def array_dtype(array):
    """The DataType enum of a numpy array (object/str/bytes arrays are DT_STRING)."""
    if array.dtype.kind in "OSU":
        return types_pb2.DT_STRING
    return tf.dtypes.as_dtype(array.dtype).as_datatype_enum


class Signature:
    """A SignatureDef plus the loaded concrete function that runs it."""

    def __init__(self, name, signature_def, function):
        self.name = name
        self.method_name = signature_def.method_name
        self.inputs = dict(signature_def.inputs)     # alias -> TensorInfo
        self.outputs = dict(signature_def.outputs)
        self.function = function

    def check_aliases(self, names):
        """Raises INVALID_ARGUMENT unless `names` are exactly the signature's inputs."""
        sent, wanted = set(names), set(self.inputs)
        if len(sent) != len(wanted):
            fmt = lambda names: ",".join(sorted(names))
            raise errors.invalid(
                    f"input size does not match signature: {len(sent)}!={len(wanted)} "
                    f"len({{{fmt(sent)}}}) != len({{{fmt(wanted)}}}). "
                    f"Sent extra: {{{fmt(sent - wanted)}}}. "
                    f"Missing but required: {{{fmt(wanted - sent)}}}.")
        for alias in sorted(wanted - sent):
            raise errors.invalid(f"Signature input alias: {alias}(feed name: "
                                 f"{self.inputs[alias].name}) not found in request")

    def check_inputs(self, inputs):
        """Raises INVALID_ARGUMENT unless `inputs` (alias -> array) fits the signature."""
        self.check_aliases(inputs)
        for index, alias in enumerate(sorted(self.inputs)):
            self._check_one(index, alias, inputs[alias])
        batch_sizes = {inputs[a].shape[0] for a in inputs if inputs[a].ndim}
        if len(batch_sizes) > 1:
            raise errors.invalid(f"inputs of signature {self.name!r} have different batch "
                                 f"sizes: {sorted(batch_sizes)}")

    def _check_one(self, index, alias, array):
        info = self.inputs[alias]
        if array_dtype(array) != info.dtype:
            raise errors.invalid(f"Expects arg[{index}] to be {dtype_name(info.dtype)} but "
                                 f"{dtype_name(array_dtype(array))} is provided")
        if info.tensor_shape.unknown_rank:
            return
        dims = [d.size for d in info.tensor_shape.dim]
        ok = len(dims) == array.ndim and all(
                d < 0 or d == s for d, s in zip(dims, array.shape))
        if not ok:
            raise errors.invalid(f"input {alias!r} must have shape {dims} (-1 = any size) "
                                 f"but got {list(array.shape)}")

    def run(self, inputs):
        """Calls the function; returns alias -> numpy array for every output."""
        feeds = {alias: tf.constant(value) for alias, value in inputs.items()}
        try:
            result = self.function(**feeds)
        except Exception as e:  # TF raises many types; map to a status code.
            raise errors.from_exception(e) from e
        return {alias: value.numpy() for alias, value in result.items()}


class LoadedVersion:
    """A SavedModel version folder loaded in this process."""

    def __init__(self, model_name, version, path):
        self.model_name = model_name
        self.version = int(version)
        self.path = path
        self.signature_defs = _read_signature_defs(path)
        self._saved_model = tf.saved_model.load(path)
        self.signatures = {}
        for name, function in self._saved_model.signatures.items():
            if name in self.signature_defs:
                self.signatures[name] = Signature(name, self.signature_defs[name], function)

    def signature(self, name, api):
        """Finds a signature; `api` picks the stock error for an unknown name."""
        name = name or DEFAULT_SIGNATURE
        if name in self.signatures:
            return self.signatures[name]
        if api == "predict":
            raise errors.ServingError("FAILED_PRECONDITION",
                                      f'Serving signature key "{name}" not found.')
        raise errors.invalid(f"No signature was found with the name: {name}")

    def classify_signature(self, name):
        signature = self.signature(name, "classify")
        _check_method(signature, CLASSIFY_METHOD, "classification")
        if "classes" not in signature.outputs and "scores" not in signature.outputs:
            raise errors.invalid("Expected classification signature outputs to contain at "
                                 "least one of classes or scores")
        return signature

    def regress_signature(self, name):
        signature = self.signature(name, "regress")
        _check_method(signature, REGRESS_METHOD, "regression")
        if "outputs" not in signature.outputs:
            raise errors.invalid("Expected regression signature outputs to contain outputs")
        return signature

    def warmup(self, run_predict):
        """Replays assets.extra/tf_serving_warmup_requests; any failure fails the load."""
        path = os.path.join(self.path, WARMUP_FILE)
        if not os.path.exists(path):
            return 0
        from tensorflow_serving.apis import prediction_log_pb2
        count = 0
        for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS + 1):
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise errors.invalid(f"{path}: more than {MAX_WARMUP_RECORDS} warmup records")
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            kind = log.WhichOneof("log_type")
            if kind == "predict_log":
                run_predict(self, log.predict_log.request)
            elif kind == "classify_log":
                request = log.classify_log.request
                self.classify(request.model_spec.signature_name, request.input)
            elif kind == "regress_log":
                request = log.regress_log.request
                self.regress(request.model_spec.signature_name, request.input)
            else:
                raise errors.invalid(f"{path}: unsupported warmup log type {kind!r}")
        logging.info("Warmed up %s version %d with %d requests", self.model_name,
                     self.version, count)
        return count

    def classify(self, signature_name, input_proto, chunk_rows=None):
        """Returns a list (per example) of [(label bytes, score float)]; the signature
        runs on at most `chunk_rows` examples at a time (None = all at once)."""
        signature = self.classify_signature(signature_name)
        examples = _serialized_examples(input_proto)
        outputs = _run_chunked(signature, {"inputs": examples}, chunk_rows)
        classes, scores = outputs.get("classes"), outputs.get("scores")
        ref = scores if scores is not None else classes
        batch = len(examples)
        if ref.ndim != 2 or ref.shape[0] != batch:
            raise errors.invalid(f"classification outputs must have shape [batch={batch}, "
                                 f"num_classes], got {list(ref.shape)}")
        results = []
        for i in range(batch):
            row = []
            for j in range(ref.shape[1]):
                label = classes[i, j] if classes is not None else b""
                score = float(scores[i, j]) if scores is not None else 0.0
                row.append((label, score))
            results.append(row)
        return results

    def regress(self, signature_name, input_proto, chunk_rows=None):
        """Returns one float per example (model calls as in `classify`)."""
        signature = self.regress_signature(signature_name)
        examples = _serialized_examples(input_proto)
        values = _run_chunked(signature, {"inputs": examples}, chunk_rows)["outputs"]
        values = np.asarray(values).reshape(len(examples), -1)
        if values.shape[1] != 1:
            raise errors.invalid(f"regression outputs must have shape [batch] or [batch, 1], "
                                 f"got {list(values.shape)}")
        return [float(v) for v in values[:, 0]]


def _run_chunked(signature, inputs, chunk_rows):
    return admission.run_in_chunks(lambda part, _: signature.run(part), inputs,
                                   chunk_rows or admission.request_rows(inputs))


def _check_method(signature, expected, what):
    if signature.method_name != expected:
        raise errors.invalid(f"Expected {what} signature method_name to be {expected}. "
                             f"Was: {signature.method_name}")
    if set(signature.inputs) != {"inputs"}:
        raise errors.invalid(f"Expected one input Tensor named 'inputs' in the {what} "
                             f"signature, got {sorted(signature.inputs)}")


def _serialized_examples(input_proto):
    """tf.Example protos of an Input (context merged into each) as a B string array."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        lwc = input_proto.example_list_with_context
        examples = []
        for example in lwc.examples:
            merged = type(lwc.context)()
            merged.CopyFrom(lwc.context)
            merged.MergeFrom(example)
            examples.append(merged.SerializeToString())
    else:
        examples = []
    if not examples:
        raise errors.invalid("Input is empty.")
    return np.array(examples, dtype=object)


def _read_signature_defs(path):
    pb_path = os.path.join(path, "saved_model.pb")
    with open(pb_path, "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    if not saved_model.meta_graphs:
        raise ValueError(f"{pb_path} holds no MetaGraphDef")
    return dict(saved_model.meta_graphs[0].signature_def)


def is_complete_version_dir(path):
    """A version folder is servable once saved_model.pb and variables/ (if any) exist."""
    return os.path.isfile(os.path.join(path, "saved_model.pb"))
