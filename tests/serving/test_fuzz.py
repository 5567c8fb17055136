"""Fuzzing REST bodies and gRPC TensorProtos: every bad request gets a clean 4xx /
INVALID_ARGUMENT-style answer, and the server keeps serving."""

import grpc
import hypothesis
import pytest
from hypothesis import strategies as st
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.framework import types_pb2

from tests.serving.helpers import Stubs, http, predict_request

SETTINGS = hypothesis.settings(max_examples=60, deadline=None, derandomize=True,
                               suppress_health_check=list(hypothesis.HealthCheck))
CLIENT_ERRORS = {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "RESOURCE_EXHAUSTED"}

json_values = st.recursive(
        st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(width=32)
        | st.text(max_size=8) | st.just({"b64": "Zm9v"}) | st.just({"b64": "!!"}),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                st.sampled_from(["text", "weight", "x", "b64", "zz"]), inner, max_size=3),
        max_leaves=12)
bodies = st.fixed_dictionaries(
        {}, optional={"instances": json_values, "inputs": json_values,
                      "signature_name": st.sampled_from(["", "multi", "matrix", "nope", "regress"])
                      | st.integers(), "examples": json_values, "context": json_values})
paths = st.sampled_from(["/v1/models/toy:predict", "/v1/models/toy/versions/1:predict",
                         "/v1/models/toy:classify", "/v1/models/toy:regress",
                         "/v1/models/toy/labels/canary:predict", "/v1/models/x:predict",
                         "/v1/models/toy/versions/99999999999999999999:predict"])


@pytest.fixture(scope="module")
def stubs(server):
    return Stubs(server.grpc_address)


def _check_rest(status, payload):
    assert status < 500, payload
    if status >= 400:
        assert isinstance(payload, dict) and isinstance(payload.get("error"), str), payload


@SETTINGS
@hypothesis.given(path=paths, body=bodies)
def test_rest_json_fuzz(server, path, body):
    _check_rest(*http(server.rest_address, path, body))


@SETTINGS
@hypothesis.given(path=paths, raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_rest_raw_body_fuzz(server, path, raw):
    _check_rest(*http(server.rest_address, path, raw=raw))


dtypes = st.sampled_from([types_pb2.DT_STRING, types_pb2.DT_FLOAT, types_pb2.DT_INT32,
                          types_pb2.DT_DOUBLE, types_pb2.DT_INVALID, types_pb2.DT_BOOL, 99])
tensors = st.builds(
        lambda dtype, dims, content, strings, floats: tensor_pb2.TensorProto(
                dtype=dtype, tensor_content=content, string_val=strings, float_val=floats,
                tensor_shape=tensor_shape_pb2.TensorShapeProto(
                        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])),
        dtypes, st.lists(st.integers(-2, 5) | st.just(10**13), max_size=3),
        st.binary(max_size=24), st.lists(st.binary(max_size=4), max_size=3),
        st.lists(st.floats(width=32), max_size=3))


@SETTINGS
@hypothesis.given(inputs=st.dictionaries(st.sampled_from(["text", "x", "weight", "zz"]), tensors,
                                         max_size=3),
                  signature=st.sampled_from(["", "multi", "matrix", "nope"]),
                  output_filter=st.lists(st.sampled_from(["label", "y", "scaled", "q"]),
                                         max_size=2))
def test_grpc_tensor_fuzz(stubs, inputs, signature, output_filter):
    request = predict_request(texts=None, signature=signature)
    for alias, proto in inputs.items():
        request.inputs[alias].CopyFrom(proto)
    request.output_filter.extend(output_filter)
    try:
        stubs.predict.Predict(request, timeout=30)
    except grpc.RpcError as e:
        assert e.code().name in CLIENT_ERRORS, (e.code(), e.details())


def test_server_still_serves_after_fuzzing(server, stubs):
    response = stubs.predict.Predict(predict_request(texts=[b"good"]), timeout=30)
    assert response.model_spec.version.value == 2
    status, payload = http(server.rest_address, "/v1/models/toy/versions/1:predict",
                           {"instances": ["good"]})
    assert status == 200 and payload["predictions"][0]["label"] == "positive"
