"""Client for TF Serving compatible servers (keras-llm-serve or tensorflow_model_server).

One API over gRPC or REST, built only on the public tensorflow-serving-api protos:

    client = Client("localhost:8500")                    # gRPC
    client = Client("localhost:8501", protocol="rest")   # REST
    client.predict("sentiment", {"text": ["good film"]})
      -> {"label": array([b"positive"], dtype=object), "probabilities": array([[.1, .9]])}

Strings come back as bytes in object arrays; numbers with the signature's dtype.
Failures raise errors.ServingError carrying the server's code and message; UNAVAILABLE
(gRPC) / 503 or a refused connection (REST) is retried `retries` times with backoff.
"""
import base64
import json
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.apis import regression_pb2

from keras_llm.serving.errors import ServingError
from keras_llm.serving.errors import code_from_http

_STATES = {0: "UNKNOWN", 10: "START", 20: "LOADING", 30: "AVAILABLE", 40: "UNLOADING",
           50: "END"}


class Client:
    """predict / classify / regress / metadata / status over gRPC or REST."""

    def __init__(self, address, protocol="grpc", timeout=10.0, retries=3, backoff=0.2,
                 max_message_bytes=64 << 20):
        if protocol not in ("grpc", "rest"):
            raise ValueError(f"protocol must be 'grpc' or 'rest', got {protocol!r}")
        self.address, self.protocol = address, protocol
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._dtypes = {}
        if protocol == "grpc":
            options = [("grpc.max_receive_message_length", max_message_bytes),
                       ("grpc.max_send_message_length", max_message_bytes)]
            self._channel = grpc.insecure_channel(address, options=options)
            self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
            self._model_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)
            self._impl = _GrpcCalls(self)
        else:
            self._base = address if "://" in address else f"http://{address}"
            self._impl = _RestCalls(self)

    def close(self):
        if self.protocol == "grpc":
            self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def predict(self, model, inputs, signature=None, version=None, label=None,
                output_filter=None):
        """inputs: alias -> array-like. Returns alias -> numpy array."""
        return self._retry(self._impl.predict, model, dict(inputs), signature or "", version,
                           label, list(output_filter or []))

    def classify(self, model, examples, signature=None, version=None, label=None,
                 context=None):
        """examples: list of {feature: value(s)}. Returns [[(label, score), ...], ...]."""
        return self._retry(self._impl.classify, "classify", model, examples, signature or "",
                           version, label, context)

    def regress(self, model, examples, signature=None, version=None, label=None,
                context=None):
        """Returns one float per example."""
        return self._retry(self._impl.classify, "regress", model, examples, signature or "",
                           version, label, context)

    def metadata(self, model, version=None, label=None):
        """signature name -> {"method_name", "inputs"/"outputs": alias -> {dtype, shape}}."""
        return self._retry(self._impl.metadata, model, version, label)

    def status(self, model, version=None):
        """[{"version": int, "state": str, "error_code": str, "error_message": str}]."""
        return self._retry(self._impl.status, model, version)

    def _signature(self, model, version, label, signature):
        """Cached metadata of one signature ({} if the server does not list it)."""
        key = (model, version, label, signature or "serving_default")
        if key not in self._dtypes:
            signatures = self._impl.metadata(model, version, label)
            self._dtypes[key] = signatures.get(key[3], {})
        return self._dtypes[key]

    def _retry(self, call, *args):
        for attempt in range(self.retries + 1):
            try:
                return call(*args)
            except ServingError as e:
                if e.code != "UNAVAILABLE" or attempt == self.retries:
                    raise
            time.sleep(self.backoff * 2**attempt)


def _as_array(value, dtype=None):
    """Plain Python values take the signature's dtype (else 2.0 would be sent as double)."""
    if dtype not in (None, "string", "invalid") and not isinstance(value, np.ndarray):
        return np.asarray(value, dtype=dtype)
    array = np.asarray(value)
    if array.dtype.kind in "SU":
        flat = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in array.reshape(-1)]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(array.shape)
    return array


def _spec(model_spec, model, signature, version, label):
    model_spec.name = model
    model_spec.signature_name = signature
    if version is not None and label is not None:
        raise ValueError("give a version or a label, not both")
    if version is not None:
        model_spec.version.value = int(version)
    if label is not None:
        model_spec.version_label = label


def _example(features):
    example = tf.train.Example()
    for name, value in features.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        feature = example.features.feature[name]
        if all(isinstance(v, (bytes, str)) for v in items):
            feature.bytes_list.value.extend(v.encode() if isinstance(v, str) else v
                                            for v in items)
        elif all(isinstance(v, (int, np.integer)) for v in items):
            feature.int64_list.value.extend(int(v) for v in items)
        else:
            feature.float_list.value.extend(float(v) for v in items)
    return example


def _signature_dict(signature_def):
    def tensors(infos):
        return {alias: {"dtype": tf.dtypes.as_dtype(info.dtype).name if info.dtype else "invalid",
                        "shape": None if info.tensor_shape.unknown_rank else
                        [d.size for d in info.tensor_shape.dim]}
                for alias, info in infos.items()}
    return {"method_name": signature_def.method_name,
            "inputs": tensors(signature_def.inputs), "outputs": tensors(signature_def.outputs)}


class _GrpcCalls:
    def __init__(self, client):
        self.c = client

    def _call(self, method, request):
        try:
            return method(request, timeout=self.c.timeout)
        except grpc.RpcError as e:
            raise ServingError(e.code().name, e.details() or "") from None

    def predict(self, model, inputs, signature, version, label, output_filter):
        dtypes = {}
        if not all(isinstance(v, np.ndarray) for v in inputs.values()):
            dtypes = self.c._signature(model, version, label, signature).get("inputs", {})
        arrays = {a: _as_array(v, dtypes.get(a, {}).get("dtype")) for a, v in inputs.items()}
        request = predict_pb2.PredictRequest(output_filter=output_filter)
        _spec(request.model_spec, model, signature, version, label)
        for alias, array in arrays.items():
            request.inputs[alias].CopyFrom(tf.make_tensor_proto(array))
        response = self._call(self.c._predict_stub.Predict, request)
        return {alias: tf.make_ndarray(proto) for alias, proto in response.outputs.items()}

    def classify(self, api, model, examples, signature, version, label, context):
        module = classification_pb2 if api == "classify" else regression_pb2
        request = (module.ClassificationRequest() if api == "classify"
                   else module.RegressionRequest())
        _spec(request.model_spec, model, signature, version, label)
        if context is not None:
            target = request.input.example_list_with_context
            target.context.CopyFrom(_example(context))
        else:
            target = request.input.example_list
        for features in examples:
            target.examples.add().CopyFrom(_example(features))
        if api == "classify":
            response = self._call(self.c._predict_stub.Classify, request)
            return [[(c.label, c.score) for c in row.classes]
                    for row in response.result.classifications]
        response = self._call(self.c._predict_stub.Regress, request)
        return [r.value for r in response.result.regressions]

    def metadata(self, model, version, label):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        _spec(request.model_spec, model, "", version, label)
        response = self._call(self.c._predict_stub.GetModelMetadata, request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return {name: _signature_dict(s) for name, s in sig_map.signature_def.items()}

    def status(self, model, version):
        request = get_model_status_pb2.GetModelStatusRequest()
        _spec(request.model_spec, model, "", version, None)
        response = self._call(self.c._model_stub.GetModelStatus, request)
        return [{"version": s.version, "state": _STATES.get(s.state, str(s.state)),
                 "error_code": _code_name(s.status.error_code),
                 "error_message": s.status.error_message}
                for s in response.model_version_status]


def _code_name(number):
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code.name
    return "UNKNOWN"


class _RestCalls:
    def __init__(self, client):
        self.c = client

    def _url(self, model, version, label, suffix=""):
        url = f"{self.c._base}/v1/models/{model}"
        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        if version is not None:
            url += f"/versions/{int(version)}"
        elif label is not None:
            url += f"/labels/{label}"
        return url + suffix

    def _call(self, url, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.c.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                message = json.loads(payload).get("error", "")
            except (ValueError, AttributeError):
                message = payload.decode("utf-8", "replace")
            raise ServingError(code_from_http(e.code), message, http_status=e.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise ServingError("UNAVAILABLE", f"cannot reach {url}: {e}") from None

    def predict(self, model, inputs, signature, version, label, output_filter):
        body = {"inputs": {a: _to_json(_as_array(v)) for a, v in inputs.items()}}
        if signature:
            body["signature_name"] = signature
        outputs_meta = self.c._signature(model, version, label, signature).get("outputs", {})
        result = self._call(self._url(model, version, label, ":predict"), body)["outputs"]
        if not isinstance(result, dict) or set(result) == {"b64"}:
            result = {next(iter(outputs_meta)): result}
        wanted = output_filter or list(result)
        return {a: _from_json(result[a], outputs_meta.get(a, {}).get("dtype")) for a in wanted}

    def classify(self, api, model, examples, signature, version, label, context):
        body = {"examples": [_features_json(e) for e in examples]}
        if context is not None:
            body["context"] = _features_json(context)
        if signature:
            body["signature_name"] = signature
        results = self._call(self._url(model, version, label, f":{api}"), body)["results"]
        if api == "classify":
            return [[(name, score) for name, score in row] for row in results]
        return results

    def metadata(self, model, version, label):
        result = self._call(self._url(model, version, label, "/metadata"))
        signature_defs = result["metadata"]["signature_def"].get("signature_def", {})
        out = {}
        for name, sig in signature_defs.items():
            tensors = lambda infos: {alias: _tensor_info_json(i) for alias, i in infos.items()}
            out[name] = {"method_name": sig.get("method_name", ""),
                         "inputs": tensors(sig.get("inputs", {})),
                         "outputs": tensors(sig.get("outputs", {}))}
        return out

    def status(self, model, version):
        result = self._call(self._url(model, version, None))
        return [{"version": int(s["version"]), "state": s["state"],
                 "error_code": s.get("status", {}).get("error_code", "OK"),
                 "error_message": s.get("status", {}).get("error_message", "")}
                for s in result["model_version_status"]]


def _tensor_info_json(info):
    enum = types_pb2.DataType.Value(info.get("dtype", "DT_INVALID"))
    shape = info.get("tensor_shape", {})
    return {"dtype": tf.dtypes.as_dtype(enum).name if enum else "invalid",
            "shape": None if shape.get("unknown_rank") else
            [int(d["size"]) for d in shape.get("dim", [])]}


def _to_json(array):
    if array.dtype == object:
        flat = [{"b64": base64.b64encode(v).decode("ascii")} for v in array.reshape(-1)]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(array.shape).tolist()
    return array.tolist()


def _from_json(value, dtype):
    if dtype == "string":
        flat = _decode_strings(value)
        return np.array(flat, dtype=object) if not isinstance(flat, list) else _obj_array(flat)
    array = np.asarray(value)
    return array.astype(dtype) if dtype and dtype not in ("invalid",) else array


def _decode_strings(value):
    if isinstance(value, list):
        return [_decode_strings(v) for v in value]
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value.encode("utf-8")


def _obj_array(nested):
    shape = []
    probe = nested
    while isinstance(probe, list):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    flat = []

    def walk(v):
        if isinstance(v, list):
            for item in v:
                walk(item)
        else:
            flat.append(v)
    walk(nested)
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


def _features_json(features):
    out = {}
    for name, value in features.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        converted = [{"b64": base64.b64encode(v).decode("ascii")} if isinstance(v, bytes)
                     else (v.item() if isinstance(v, np.generic) else v) for v in items]
        out[name] = converted if isinstance(value, (list, tuple)) else converted[0]
    return out
