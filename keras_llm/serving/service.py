"""Protocol-neutral request handling shared by the gRPC and REST front ends.

Works on tensorflow_serving.apis protos; REST builds the same protos or calls the
array-level helpers (`run_predict`) after parsing JSON with the signature's dtypes.
"""

import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from keras_llm.serving import config as config_lib
from keras_llm.serving import errors

MAX_ELEMENTS = 1 << 26   # a tiny proto must not make the server allocate gigabytes
STATE_NUMBER = {"UNKNOWN": 0, "START": 10, "LOADING": 20, "AVAILABLE": 30,
                "UNLOADING": 40, "END": 50}


def check_model_spec(request):
    if not request.HasField("model_spec"):
        raise errors.invalid("Missing ModelSpec")
    if not request.model_spec.name:
        raise errors.invalid("ModelSpec has no name specified.")
    return request.model_spec


def spec_version(spec):
    """(version or None, label or None) of a ModelSpec."""
    which = spec.WhichOneof("version_choice")
    if which == "version":
        return spec.version.value, None
    if which == "version_label":
        return None, spec.version_label
    return None, None


def check_output_filter(signature, output_filter):
    seen = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise errors.invalid(
                    f"output tensor alias not found in signature: {alias} Outputs expected to "
                    f"be in the set {{{','.join(sorted(signature.outputs))}}}.")
        if alias in seen:
            raise errors.invalid(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter) or sorted(signature.outputs)


class Service:
    """Predict / Classify / Regress / metadata / status over a ModelManager."""

    def __init__(self, manager, batching_enabled=False):
        self.manager = manager
        self.batching_enabled = batching_enabled

    # ----- Predict -----
    def run_predict(self, entry, signature, inputs, output_filter=(), timeout=None):
        """Checks and runs arrays on one signature; returns alias -> array (filtered)."""
        signature.check_inputs(inputs)
        wanted = check_output_filter(signature, output_filter)
        if self.batching_enabled and inputs and all(v.ndim for v in inputs.values()):
            batcher = entry.batcher(signature, self.manager.batching_config)
            outputs = batcher.submit(inputs, timeout)
        else:
            outputs = signature.run(inputs)
        return {alias: outputs[alias] for alias in wanted}

    def predict(self, request, timeout=None):
        spec = check_model_spec(request)
        version, label = spec_version(spec)
        with self.manager.acquire(spec.name, version, label) as entry:
            signature = entry.loaded.signature(spec.signature_name, "predict")
            inputs = decode_inputs(signature, request.inputs)
            outputs = self.run_predict(entry, signature, inputs, request.output_filter,
                                       timeout)
            response = predict_pb2.PredictResponse()
            fill_spec(response.model_spec, spec.name, entry.version, signature.name)
            for alias, value in outputs.items():
                response.outputs[alias].CopyFrom(tf.make_tensor_proto(value))
            return response

    # ----- Classify / Regress -----
    def classify(self, request):
        spec = check_model_spec(request)
        version, label = spec_version(spec)
        with self.manager.acquire(spec.name, version, label) as entry:
            signature = entry.loaded.classify_signature(spec.signature_name)
            results = entry.loaded.classify(signature.name, request.input)
            response = classification_pb2.ClassificationResponse()
            fill_spec(response.model_spec, spec.name, entry.version, signature.name)
            for row in results:
                classifications = response.result.classifications.add()
                for label_bytes, score in row:
                    classifications.classes.add(label=_text(label_bytes), score=score)
            return response

    def regress(self, request):
        spec = check_model_spec(request)
        version, label = spec_version(spec)
        with self.manager.acquire(spec.name, version, label) as entry:
            signature = entry.loaded.regress_signature(spec.signature_name)
            values = entry.loaded.regress(signature.name, request.input)
            response = regression_pb2.RegressionResponse()
            fill_spec(response.model_spec, spec.name, entry.version, signature.name)
            for value in values:
                response.result.regressions.add(value=value)
            return response

    # ----- metadata / status / reload -----
    def metadata(self, request):
        spec = check_model_spec(request)
        fields = list(request.metadata_field)
        if fields != ["signature_def"]:
            raise errors.invalid(
                    "Metadata field(s) must be exactly [signature_def], got "
                    f"{fields}" if fields else
                    "GetModelMetadataRequest must specify at least one metadata_field")
        version, label = spec_version(spec)
        with self.manager.acquire(spec.name, version, label) as entry:
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            fill_spec(response.model_spec, spec.name, entry.version, "")
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            for name, signature_def in entry.loaded.signature_defs.items():
                sig_map.signature_def[name].CopyFrom(signature_def)
            packed = any_pb2.Any()
            packed.Pack(sig_map)
            response.metadata["signature_def"].CopyFrom(packed)
            return response

    def status(self, request):
        spec = check_model_spec(request)
        version, label = spec_version(spec)
        if label is not None:
            raise errors.invalid("GetModelStatus takes a version, not a version label")
        response = get_model_status_pb2.GetModelStatusResponse()
        for number, state, error in self.manager.status(spec.name, version):
            status = response.model_version_status.add(version=number,
                                                        state=STATE_NUMBER[state])
            status.status.SetInParent()
            if error is not None:
                status.status.error_code = errors.CODE_NUMBER[error.code]
                status.status.error_message = error.message
        return response

    def reload(self, request):
        if request.config.WhichOneof("config") != "model_config_list":
            raise errors.invalid("ServerConfig must have a model_config_list")
        try:
            config_list = config_lib.validate_config_list(request.config.model_config_list)
        except ValueError as e:
            raise errors.invalid(str(e)) from e
        self.manager.set_config(config_list)
        return model_management_pb2.ReloadConfigResponse()

    def warmup_predict(self, loaded, request):
        """Runs one warmup PredictRequest directly on a version being loaded."""
        signature = loaded.signature(request.model_spec.signature_name, "predict")
        inputs = decode_inputs(signature, request.inputs)
        signature.check_inputs(inputs)
        signature.run(inputs)


def fill_spec(model_spec, name, version, signature_name):
    model_spec.name = name
    model_spec.version.value = version
    model_spec.signature_name = signature_name


def decode_inputs(signature, tensor_protos):
    """TensorProto map -> alias -> array (count/alias checks first, as stock does)."""
    signature.check_aliases(tensor_protos)
    arrays = {}
    for alias, proto in tensor_protos.items():
        dims = [d.size for d in proto.tensor_shape.dim]
        if any(d < 0 for d in dims) or int(np.prod(dims, dtype=np.float64)) > MAX_ELEMENTS:
            raise errors.invalid(f"tensor parsing error: {alias}")
        try:
            arrays[alias] = tf.make_ndarray(proto)
        except Exception as e:  # malformed protos raise many types
            raise errors.invalid(f"tensor parsing error: {alias}") from e
        if proto.dtype == 7 and arrays[alias].dtype != object:  # DT_STRING
            arrays[alias] = arrays[alias].astype(object)
    return arrays


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
