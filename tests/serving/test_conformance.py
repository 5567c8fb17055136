"""Conformance of keras-llm-serve with the TF Serving protocol (spec: tf_serving_protocol.md).

A real server process, the real tensorflow_serving.apis stubs, and plain urllib.
Toy model "toy": v1 answers lowercase labels and p=0.9, v2 uppercase labels and p=0.8.
"""
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from tests.serving.helpers import Stubs, grpc_error, http, predict_request


@pytest.fixture(scope="module")
def stubs(server):
    return Stubs(server.grpc_address)


@pytest.fixture(scope="module")
def rest(server):
    return server.rest_address


def _labels(response):
    return [v.decode() for v in tf.make_ndarray(response.outputs["label"])]


# ----- error table, gRPC -----
def test_grpc_missing_model_spec(stubs):
    assert grpc_error(stubs.predict.Predict, predict_pb2.PredictRequest()) == (
            "INVALID_ARGUMENT", "Missing ModelSpec")


def test_grpc_empty_model_name(stubs):
    request = predict_request(name="")
    request.model_spec.signature_name = "serving_default"
    assert grpc_error(stubs.predict.Predict, request) == (
            "INVALID_ARGUMENT", "ModelSpec has no name specified.")


def test_grpc_unknown_model_version_label(stubs):
    call = stubs.predict.Predict
    assert grpc_error(call, predict_request(name="nope")) == (
            "NOT_FOUND", "Servable not found for request: Latest(nope)")
    assert grpc_error(call, predict_request(version=9)) == (
            "NOT_FOUND", "Servable not found for request: Specific(toy, 9)")
    assert grpc_error(call, predict_request(label="nope")) == (
            "INVALID_ARGUMENT", "Unrecognized servable version label: nope")


def test_grpc_unknown_signature(stubs):
    assert grpc_error(stubs.predict.Predict, predict_request(signature="nope")) == (
            "FAILED_PRECONDITION", 'Serving signature key "nope" not found.')
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "nope"
    request.input.example_list.examples.add()
    assert grpc_error(stubs.predict.Classify, request) == (
            "INVALID_ARGUMENT", "No signature was found with the name: nope")
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "nope"
    request.input.example_list.examples.add()
    assert grpc_error(stubs.predict.Regress, request) == (
            "INVALID_ARGUMENT", "No signature was found with the name: nope")


def test_grpc_wrong_input_count_and_alias(stubs):
    code, message = grpc_error(stubs.predict.Predict, predict_request(signature="multi"))
    assert code == "INVALID_ARGUMENT"
    assert message.startswith("input size does not match signature: 1!=2")
    assert "Sent extra: {}. Missing but required: {weight}." in message
    request = predict_request(texts=None, txt=np.array([b"x"], dtype=object))
    assert grpc_error(stubs.predict.Predict, request) == (
            "INVALID_ARGUMENT",
            "Signature input alias: text(feed name: serving_default_text:0) not found in request")


def test_grpc_unparsable_tensor(stubs):
    request = predict_request(texts=None)
    request.inputs["text"].CopyFrom(tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, tensor_content=b"\x00" * 5,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                    dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)])))
    assert grpc_error(stubs.predict.Predict, request) == (
            "INVALID_ARGUMENT", "tensor parsing error: text")


def test_grpc_output_filter_errors(stubs):
    request = predict_request()
    request.output_filter.append("nope")
    code, message = grpc_error(stubs.predict.Predict, request)
    assert code == "INVALID_ARGUMENT"
    assert message.startswith("output tensor alias not found in signature: nope")
    request = predict_request()
    request.output_filter.extend(["label", "label"])
    assert grpc_error(stubs.predict.Predict, request) == (
            "INVALID_ARGUMENT", "duplicate output tensor alias: label")


def test_grpc_dtype_and_shape_errors(stubs):
    request = predict_request(texts=None, signature="matrix",
                              x=np.array([[b"a", b"b", b"c"]], dtype=object))
    assert grpc_error(stubs.predict.Predict, request) == (
            "INVALID_ARGUMENT", "Expects arg[0] to be float but string is provided")
    request = predict_request(texts=None, signature="matrix",
                              x=np.zeros((2, 4), np.float32))
    code, message = grpc_error(stubs.predict.Predict, request)
    assert code == "INVALID_ARGUMENT" and "'x'" in message and "[2, 4]" in message


def test_grpc_status_errors(stubs):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    assert grpc_error(stubs.model.GetModelStatus, request) == (
            "NOT_FOUND", "Could not find any versions of model nope")
    request.model_spec.name = "toy"
    request.model_spec.version.value = 9
    assert grpc_error(stubs.model.GetModelStatus, request) == (
            "NOT_FOUND", "Could not find version 9 of model toy")


def test_grpc_long_message_truncated(stubs):
    request = predict_request()
    request.inputs["x" * 3000].CopyFrom(tf.make_tensor_proto([1.0]))
    code, message = grpc_error(stubs.predict.Predict, request)
    assert code == "INVALID_ARGUMENT"
    assert len(message) == 1024 and message.endswith("...TRUNCATED")


def test_grpc_request_size_limit(stubs):
    request = predict_request(texts=[b"x" * 300_000])
    code, _ = grpc_error(stubs.predict.Predict, request)
    assert code == "RESOURCE_EXHAUSTED"


# ----- error table, REST -----
@pytest.mark.parametrize("path,body,status,message", [
        ("/v1/models/nope:predict", {"instances": ["a"]}, 404,
         "Servable not found for request: Latest(nope)"),
        ("/v1/models/toy/versions/9:predict", {"instances": ["a"]}, 404,
         "Servable not found for request: Specific(toy, 9)"),
        ("/v1/models/toy/labels/nope:predict", {"instances": ["a"]}, 400,
         "Unrecognized servable version label: nope"),
        ("/v1/models/toy:predict", {"signature_name": "nope", "instances": ["a"]}, 400,
         'Serving signature name: "nope" not found in signature def'),
        ("/v1/models/toy:classify", {"signature_name": "nope", "examples": [{"text": "a"}]},
         400, "No signature was found with the name: nope"),
        ("/v1/models/toy:regress", {"signature_name": "nope", "examples": [{"text": "a"}]},
         400, "No signature was found with the name: nope"),
        ("/v1/models/toy:predict", {"signature_name": "multi", "inputs": {"text": ["a"]}},
         400, "Missing named input: weight in 'inputs' object."),
        ("/v1/models/toy:predict", {"signature_name": "matrix", "inputs": {"x": [["a"] * 3]}},
         400, None),
        ("/v1/models/toy:predict", {"signature_name": "matrix", "inputs": {"x": [[1, 2]]}},
         400, "input 'x' must have shape [-1, 3] (-1 = any size) but got [1, 2]"),
        ("/v1/models/toy:predict", {"instances": []}, 400, None),
        ("/v1/models/toy:predict", {"instances": ["a"], "inputs": ["a"]}, 400, None),
        ("/v1/models/toy:predict", {"instances": [["a"], ["b", "c"]]}, 400, None),
        ("/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("/v1/models/toy/versions/9", None, 404, "Could not find version 9 of model toy"),
        ("/v1/models/toy/metadatax", None, 400, "Malformed request: GET /v1/models/toy/metadatax"),
        ("/v1/models/toy:explain", {}, 400, "Malformed request: POST /v1/models/toy:explain"),
])
def test_rest_errors(rest, path, body, status, message):
    got_status, payload = http(rest, path, body)
    assert got_status == status, payload
    assert set(payload) == {"error"}
    if message is not None:
        assert payload["error"] == message


def test_rest_input_count_mismatch(rest):
    status, payload = http(rest, "/v1/models/toy:predict",
                           {"inputs": {"text": ["a"], "extra": ["b"]}})
    assert status == 400
    assert payload["error"].startswith("input size does not match signature: 2!=1")
    assert "Sent extra: {extra}" in payload["error"]


def test_rest_bad_json_and_size_limit(rest):
    status, payload = http(rest, "/v1/models/toy:predict", raw=b"{not json")
    assert status == 400 and payload["error"].startswith("JSON Parse error")
    status, payload = http(rest, "/v1/models/toy:predict", raw=b"x" * 300_000)
    assert status == 413 and "exceeds the limit of 200000 bytes" in payload["error"]


# ----- model / version / label resolution -----
@pytest.mark.parametrize("kwargs,labels,version", [
        ({}, ["POSITIVE", "NEGATIVE"], 2),
        ({"version": 1}, ["positive", "negative"], 1),
        ({"label": "stable"}, ["positive", "negative"], 1),
        ({"label": "canary"}, ["POSITIVE", "NEGATIVE"], 2),
])
def test_grpc_resolution(stubs, kwargs, labels, version):
    response = stubs.predict.Predict(predict_request(texts=[b"good", b"bad"], **kwargs),
                                     timeout=30)
    assert _labels(response) == labels
    assert response.model_spec.name == "toy"
    assert response.model_spec.version.value == version
    assert response.model_spec.signature_name == "serving_default"


@pytest.mark.parametrize("prefix,first", [("/v1/models/toy", "POSITIVE"),
                                          ("/v1/models/toy/versions/1", "positive"),
                                          ("/v1/models/toy/labels/stable", "positive"),
                                          ("/v1/models/toy/labels/canary", "POSITIVE"),
                                          ("/v1/models/single", "positive")])
def test_rest_resolution(rest, prefix, first):
    status, payload = http(rest, prefix + ":predict", {"instances": ["good"]})
    assert status == 200, payload
    assert payload["predictions"][0]["label"] == first


# ----- formats -----
def test_rest_row_and_columnar_formats(rest):
    status, rows = http(rest, "/v1/models/toy/versions/1:predict",
                        {"instances": ["good", {"b64": "YmFk"}]})
    assert status == 200
    assert [r["label"] for r in rows["predictions"]] == ["positive", "negative"]
    np.testing.assert_allclose(rows["predictions"][0]["probabilities"], [0.1, 0.9], atol=1e-6)
    status, cols = http(rest, "/v1/models/toy/versions/1:predict", {"inputs": ["good", "bad"]})
    assert status == 200
    assert cols["outputs"]["label"] == ["positive", "negative"]
    np.testing.assert_allclose(cols["outputs"]["probabilities"], [[0.1, 0.9], [0.9, 0.1]],
                               atol=1e-6)
    status, named = http(rest, "/v1/models/toy/versions/1:predict",
                         {"inputs": {"text": ["good"]}})
    assert named["outputs"]["label"] == ["positive"]


def test_rest_multi_input_rows_and_bytes_outputs(rest):
    body = {"signature_name": "multi",
            "instances": [{"text": "abc", "weight": 2.0}, {"text": {"b64": "/w=="}, "weight": 1}]}
    status, payload = http(rest, "/v1/models/toy:predict", body)
    assert status == 200, payload
    assert payload["predictions"] == [{"scaled": 6.0, "echo_bytes": {"b64": "YWJj"}},
                                      {"scaled": 1.0, "echo_bytes": {"b64": "/w=="}}]


def test_grpc_output_filter_and_multi(stubs):
    request = predict_request(texts=[b"abcd"], signature="multi",
                              weight=np.array([0.5], np.float32))
    request.output_filter.append("scaled")
    response = stubs.predict.Predict(request, timeout=30)
    assert list(response.outputs) == ["scaled"]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["scaled"]), [2.0])


def test_classify_and_regress(stubs, rest):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "classify"
    request.model_spec.version.value = 1
    for text in (b"good", b"bad"):
        request.input.example_list.examples.add().features.feature[
                "text"].bytes_list.value.append(text)
    response = stubs.predict.Classify(request, timeout=30)
    first = response.result.classifications[0].classes
    assert [c.label for c in first] == ["negative", "positive"]
    np.testing.assert_allclose([c.score for c in first], [0.1, 0.9], atol=1e-6)
    status, payload = http(rest, "/v1/models/toy/versions/1:classify",
                           {"signature_name": "classify", "examples": [{"text": "bad"}]})
    assert status == 200
    assert payload["results"][0][0][0] == "negative"
    assert payload["results"][0][0][1] == pytest.approx(0.9, abs=1e-6)
    status, payload = http(rest, "/v1/models/toy:regress",
                           {"signature_name": "regress", "context": {"other": 1},
                            "examples": [{"text": "abc"}, {"text": "abcde"}]})
    assert status == 200 and payload["results"] == [6.0, 10.0]
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "regress"
    request.input.example_list.examples.add().features.feature[
            "text"].bytes_list.value.append(b"ab")
    assert [r.value for r in stubs.predict.Regress(request, timeout=30).result.regressions] == [
            4.0]


def test_classify_needs_classify_method(stubs):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "toy"  # serving_default is a predict signature
    request.input.example_list.examples.add()
    code, message = grpc_error(stubs.predict.Classify, request)
    assert code == "INVALID_ARGUMENT"
    assert message.startswith("Expected classification signature method_name to be "
                              "tensorflow/serving/classify")


# ----- metadata and status -----
def test_metadata(stubs, rest):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    request.model_spec.version.value = 1
    response = stubs.predict.GetModelMetadata(request, timeout=30)
    assert response.model_spec.version.value == 1
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    serving = sig_map.signature_def["serving_default"]
    assert serving.inputs["text"].dtype == types_pb2.DT_STRING
    assert set(serving.outputs) == {"label", "probabilities"}
    assert sig_map.signature_def["classify"].method_name == "tensorflow/serving/classify"
    request.metadata_field[:] = ["other"]
    assert grpc_error(stubs.predict.GetModelMetadata, request)[0] == "INVALID_ARGUMENT"
    status, payload = http(rest, "/v1/models/toy/metadata")
    assert status == 200
    assert payload["model_spec"] == {"name": "toy", "signature_name": "", "version": "2"}
    rest_inputs = payload["metadata"]["signature_def"]["signature_def"]["serving_default"][
            "inputs"]
    assert rest_inputs["text"]["dtype"] == "DT_STRING"
    assert rest_inputs["text"]["tensor_shape"]["dim"][0]["size"] == "-1"


def test_status(stubs, rest):
    status, payload = http(rest, "/v1/models/toy/versions/1")
    assert status == 200
    assert payload == {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                       "status": {"error_code": "OK", "error_message": ""}}]}
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    response = stubs.model.GetModelStatus(request, timeout=30)
    assert [(s.version, s.state) for s in response.model_version_status] == [(2, 30), (1, 30)]
    request.model_spec.name = "broken"
    broken = stubs.model.GetModelStatus(request, timeout=30).model_version_status
    assert [(s.version, s.state) for s in broken] == [(5, 50)]
    assert broken[0].status.error_code != 0 and broken[0].status.error_message
    assert grpc_error(stubs.predict.Predict, predict_request(name="broken"))[0] == "NOT_FOUND"


def test_healthz_and_metrics(stubs, rest):
    stubs.predict.Predict(predict_request(), timeout=30)
    status, payload = http(rest, "/healthz")
    assert status == 200
    assert payload == {"status": "ok", "models": {"toy": True, "single": True, "broken": False}}
    status, text = http(rest, "/monitoring/prometheus/metrics")
    assert status == 200
    line = [l for l in text.splitlines() if l.startswith(
            ':tensorflow:serving:request_count{model_name="toy",API="predict",'
            'entrypoint="GRPC",status="OK"}')]
    assert line and int(line[0].split()[-1]) >= 1
    assert ':tensorflow:serving:request_latency_bucket{model_name="toy",API="predict"' in text


def test_reload_config(stubs, model_root):
    original = (model_root / "models.config").read_text()
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(original, request.config)
    extra = request.config.model_config_list.config.add(
            name="extra", base_path=str(model_root / "single"), model_platform="tensorflow")
    assert extra.name == "extra"
    response = stubs.model.HandleReloadConfigRequest(request, timeout=120)
    assert response.status.error_code == 0
    assert _labels(stubs.predict.Predict(predict_request(name="extra"), timeout=30)) == [
            "positive"]
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(original, request.config)
    stubs.model.HandleReloadConfigRequest(request, timeout=120)
    assert grpc_error(stubs.predict.Predict, predict_request(name="extra")) == (
            "NOT_FOUND", "Servable not found for request: Latest(extra)")
    assert _labels(stubs.predict.Predict(predict_request(), timeout=30)) == ["POSITIVE"]
