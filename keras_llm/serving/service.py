"""Protocol-neutral request handling shared by the gRPC and REST front ends.

Works on tensorflow_serving.apis protos; REST builds the same protos or calls the
array-level helpers (`run_predict`) after parsing JSON with the signature's dtypes.
"""
import asyncio
import contextlib

import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from keras_llm.serving import admission as admission_lib
from keras_llm.serving import config as config_lib
from keras_llm.serving import errors
from keras_llm.serving import servable

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
    """Predict / Classify / Regress / MultiInference / metadata / status over a ModelManager."""

    def __init__(self, manager, batching_enabled=False, limits=None):
        self.manager = manager
        self.batching_enabled = batching_enabled
        self.limits = limits or admission_lib.Limits()
        self.admission = admission_lib.Admission(self.limits)

    # ----- Predict -----
    def run_predict(self, entry, signature, inputs, output_filter=(), timeout=None):
        """Checks and runs arrays on one signature; returns alias -> array (filtered).
        Holds the request's rows in flight; runs it in model calls of bounded rows."""
        wanted, batcher = self._plan(entry, signature, inputs, output_filter)
        if batcher:
            run, chunk = batcher.submit, self.manager.batching_config.max_batch_size
        else:
            run, chunk = lambda part, _: signature.run(part), self.limits.max_rows_per_model_call
        with self.admission.admit(rows=admission_lib.request_rows(inputs)):
            outputs = admission_lib.run_in_chunks(run, inputs, chunk, timeout)
        return {alias: outputs[alias] for alias in wanted}

    async def run_predict_async(self, entry, signature, inputs, output_filter=(),
                                timeout=None, executor=None):
        """`run_predict` on an event loop: a batched request waits without a thread; an
        unbatched one runs on `executor` (TF releases the GIL, so calls overlap)."""
        wanted, batcher = self._plan(entry, signature, inputs, output_filter)
        if batcher:
            run, chunk = batcher.submit_async, self.manager.batching_config.max_batch_size
        else:
            async def run(part, _):
                return await asyncio.get_running_loop().run_in_executor(
                        executor, signature.run, part)
            chunk = self.limits.max_rows_per_model_call
        with self.admission.admit(rows=admission_lib.request_rows(inputs)):
            outputs = await admission_lib.run_in_chunks_async(run, inputs, chunk, timeout)
        return {alias: outputs[alias] for alias in wanted}

    def _plan(self, entry, signature, inputs, output_filter):
        """Checks the inputs; returns (output aliases to answer, Batcher or None)."""
        signature.check_inputs(inputs)
        wanted = check_output_filter(signature, output_filter)
        if self.batching_enabled and inputs and all(v.ndim for v in inputs.values()):
            return wanted, entry.batcher(signature, self.manager.batching_config)
        return wanted, None

    @contextlib.contextmanager
    def _predict_call(self, request):
        """Resolves and holds a PredictRequest's version; yields (spec, entry, signature,
        decoded inputs) for the sync and async front ends alike."""
        spec = check_model_spec(request)
        version, label = spec_version(spec)
        with self.manager.acquire(spec.name, version, label) as entry:
            signature = entry.loaded.signature(spec.signature_name, "predict")
            yield spec, entry, signature, decode_inputs(signature, request.inputs)

    def predict(self, request, timeout=None):
        with self._predict_call(request) as (spec, entry, signature, inputs):
            outputs = self.run_predict(entry, signature, inputs, request.output_filter,
                                       timeout)
            return _predict_response(spec, entry, signature, outputs)

    async def predict_async(self, request, timeout=None, executor=None):
        """`predict` for the asyncio gRPC front end (same checks, errors and answer)."""
        with self._predict_call(request) as (spec, entry, signature, inputs):
            outputs = await self.run_predict_async(entry, signature, inputs,
                                                   request.output_filter, timeout, executor)
            return _predict_response(spec, entry, signature, outputs)

    # ----- Classify / Regress / MultiInference -----
    def classify(self, request):
        spec = check_model_spec(request)
        version, label = spec_version(spec)
        with self.manager.acquire(spec.name, version, label) as entry:
            signature = entry.loaded.classify_signature(spec.signature_name)
            response = classification_pb2.ClassificationResponse()
            fill_spec(response.model_spec, spec.name, entry.version, signature.name)
            with self._admit_examples(request.input):
                _classify_into(response.result, entry.loaded, signature.name,
                               request.input, self.limits.max_rows_per_model_call)
            return response

    def regress(self, request):
        spec = check_model_spec(request)
        version, label = spec_version(spec)
        with self.manager.acquire(spec.name, version, label) as entry:
            signature = entry.loaded.regress_signature(spec.signature_name)
            response = regression_pb2.RegressionResponse()
            fill_spec(response.model_spec, spec.name, entry.version, signature.name)
            with self._admit_examples(request.input):
                _regress_into(response.result, entry.loaded, signature.name, request.input,
                              self.limits.max_rows_per_model_call)
            return response

    def multi_inference(self, request):
        """Classify/regress tasks on one shared Input; results in task order.

        As stock (servables/tensorflow/multi_inference.cc): the first task's ModelSpec picks
        the version, every task names the same model, no signature twice, each method_name
        is classify or regress and matches its signature's. Beyond stock: a task naming
        another version or label is rejected (stock silently serves it from the first task's
        version). Each signature runs its own function on the same examples, so stock's
        graph-session limit "Input tensor must be the same for all Signatures." (which
        rejects TF2 SavedModels whose classify and regress functions have separate feeds)
        does not apply, as in stock's TFRT runtime.
        """
        first = request.tasks[0].model_spec if request.tasks else None
        if first is None or not first.name:
            raise errors.invalid("ModelSpec has no name specified.")
        version, label = spec_version(first)
        with self.manager.acquire(first.name, version, label) as entry:
            checked = [_check_task(entry.loaded, request.tasks, i)
                       for i in range(len(request.tasks))]
            with self._admit_examples(request.input):
                return self._multi_inference_response(entry, first.name, checked,
                                                      request.input)

    def _multi_inference_response(self, entry, name, checked, input_proto):
        response = inference_pb2.MultiInferenceResponse()
        chunk = self.limits.max_rows_per_model_call
        for method, signature in checked:
            result = response.results.add()
            fill_spec(result.model_spec, name, entry.version, signature.name)
            if method == servable.CLASSIFY_METHOD:
                _classify_into(result.classification_result, entry.loaded, signature.name,
                               input_proto, chunk)
            else:
                _regress_into(result.regression_result, entry.loaded, signature.name,
                              input_proto, chunk)
        return response

    def _admit_examples(self, input_proto):
        """Holds the rows (tf.Examples) of a Classify/Regress/MultiInference Input."""
        kind = input_proto.WhichOneof("kind")
        rows = len(getattr(input_proto, kind).examples) if kind else 0
        return self.admission.admit(rows=rows)

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


def _predict_response(spec, entry, signature, outputs):
    response = predict_pb2.PredictResponse()
    fill_spec(response.model_spec, spec.name, entry.version, signature.name)
    for alias, value in outputs.items():
        fill_tensor_proto(response.outputs[alias], value)
    return response


_CONTENT_DTYPES = {np.dtype(t): tf.as_dtype(t).as_datatype_enum
                   for t in (np.float32, np.float64, np.int32, np.int64, np.int8, np.uint8,
                             np.int16, np.uint32, np.uint64)}


def fill_tensor_proto(proto, value):
    """Writes array `value` into TensorProto `proto`, exactly as tf.make_tensor_proto would
    (tested), without its per-call overhead in the common cases: bytes arrays and numeric
    arrays of more than one element (written as tensor_content)."""
    value = np.asarray(value)
    if not value.ndim:
        proto.CopyFrom(tf.make_tensor_proto(value))
        return
    if value.dtype.kind == "O" and all(isinstance(v, bytes) for v in value.flat):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(value.ravel().tolist())
    elif value.dtype in _CONTENT_DTYPES and value.dtype.byteorder in "=|" and value.size > 1:
        proto.dtype = _CONTENT_DTYPES[value.dtype]
        proto.tensor_content = value.tobytes()
    else:
        proto.CopyFrom(tf.make_tensor_proto(value))
        return
    for size in value.shape:
        proto.tensor_shape.dim.add(size=size)


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
        count = np.prod(dims, dtype=np.float64)     # float: no overflow on hostile dims
        if any(d < 0 for d in dims) or count > MAX_ELEMENTS:
            raise errors.invalid(f"tensor parsing error: {alias}")
        if (proto.dtype == types_pb2.DT_STRING and not proto.tensor_content
                and len(proto.string_val) == count):
            # common case, as tf.make_ndarray gives it (tested) without its overhead
            arrays[alias] = np.array(list(proto.string_val), dtype=object).reshape(dims)
            continue
        try:
            arrays[alias] = tf.make_ndarray(proto)
        except Exception as e:  # malformed protos raise many types
            raise errors.invalid(f"tensor parsing error: {alias}") from e
        if proto.dtype == types_pb2.DT_STRING and arrays[alias].dtype != object:
            arrays[alias] = arrays[alias].astype(object)
    return arrays


def _classify_into(result, loaded, signature_name, input_proto, chunk_rows=None):
    """Runs a classify signature on an Input and fills a ClassificationResult."""
    for row in loaded.classify(signature_name, input_proto, chunk_rows):
        classifications = result.classifications.add()
        for label_bytes, score in row:
            classifications.classes.add(label=_text(label_bytes), score=score)


def _regress_into(result, loaded, signature_name, input_proto, chunk_rows=None):
    """Runs a regress signature on an Input and fills a RegressionResult."""
    for value in loaded.regress(signature_name, input_proto, chunk_rows):
        result.regressions.add(value=value)


def _describe_version(spec):
    version, label = spec_version(spec)
    if version is not None:
        return f"version {version}"
    return f"label {label!r}" if label is not None else "the latest version"


def _check_task(loaded, tasks, index):
    """(method, Signature) of tasks[index], checked against the first task and the model."""
    spec, first = tasks[index].model_spec, tasks[0].model_spec
    if not spec.name:
        raise errors.invalid(f"Found ModelSpec with an empty model name. (task {index})")
    if spec.name != first.name:
        raise errors.invalid(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name. "
                f"Task {index} names {spec.name!r}, task 0 names {first.name!r}.")
    if spec_version(spec) != spec_version(first):
        raise errors.invalid(
                "All ModelSpecs in a MultiInferenceRequest must access the same model "
                f"version. Task {index} asks for {_describe_version(spec)}, task 0 for "
                f"{_describe_version(first)}.")
    name = spec.signature_name or servable.DEFAULT_SIGNATURE
    method = tasks[index].method_name
    for earlier in tasks[:index]:
        if (earlier.model_spec.signature_name or servable.DEFAULT_SIGNATURE) == name:
            raise errors.invalid(f"Duplicate evaluation of signature: {name}")
    if name not in loaded.signatures:
        raise errors.invalid(f"Requested signature not found in model graph: {name}")
    if method == servable.CLASSIFY_METHOD:
        return method, loaded.classify_signature(name)
    if method == servable.REGRESS_METHOD:
        return method, loaded.regress_signature(name)
    raise errors.ServingError("UNIMPLEMENTED", f"Unsupported signature method_name: {method}")


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
