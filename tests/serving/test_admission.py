"""Admission control and chunked model calls (keras_llm/serving/admission.py), unit level and
through in-process gRPC / REST front ends on the toy model (see test_memory_bounds.py for the
real server on the sentiment model)."""
import asyncio
import http.client
import json
import time

import grpc
import numpy as np
import pytest

from keras_llm.serving import admission
from keras_llm.serving import config as config_lib
from keras_llm.serving import errors
from keras_llm.serving import grpc_server
from keras_llm.serving import manager as manager_lib
from keras_llm.serving import metrics as metrics_lib
from keras_llm.serving import rest
from keras_llm.serving import servable
from keras_llm.serving import service as service_lib
from tests.serving.conftest import copy_version
from tests.serving.helpers import Stubs, predict_request

LIMITS = admission.Limits(max_rows_per_request=10, max_rows_in_flight=12,
                          max_bytes_in_flight=4000, max_rows_per_model_call=3)


# ----- Limits and Admission -----
def test_limits_must_be_positive():
    with pytest.raises(ValueError, match=r"--max_rows_in_flight must be a positive integer, "
                                         r"got 0"):
        admission.Limits(max_rows_in_flight=0)


def _refusal(**kwargs):
    with pytest.raises(errors.ServingError) as info:
        with admission.Admission(LIMITS).admit(**kwargs):
            pass
    return info.value


@pytest.mark.parametrize("kwargs,flag", [({"rows": 11}, "--max_rows_per_request"),
                                         ({"nbytes": 4001}, "--max_bytes_in_flight")])
def test_request_over_a_limit_is_too_large(kwargs, flag):
    error = _refusal(**kwargs)
    assert (error.code, error.http_status) == ("RESOURCE_EXHAUSTED", 413)
    assert flag in error.message and str(list(kwargs.values())[0]) in error.message


def test_per_request_limit_above_in_flight_limit_is_too_large():
    gate = admission.Admission(admission.Limits(max_rows_per_request=50,
                                                max_rows_in_flight=20))
    with pytest.raises(errors.ServingError, match="--max_rows_in_flight") as info:
        with gate.admit(rows=30):
            pass
    assert info.value.http_status == 413


def test_busy_until_released():
    gate = admission.Admission(LIMITS)
    with gate.admit(rows=8, nbytes=3000):
        assert (gate.rows, gate.bytes) == (8, 3000)
        for kwargs, flag in (({"rows": 5}, "--max_rows_in_flight"),
                             ({"nbytes": 1001}, "--max_bytes_in_flight")):
            with pytest.raises(errors.ServingError) as info:
                with gate.admit(**kwargs):
                    pass
            assert (info.value.code, info.value.http_status) == ("RESOURCE_EXHAUSTED", 429)
            assert flag in info.value.message and "busy" in info.value.message
        with gate.admit(rows=4, nbytes=1000):       # exactly fills both bounds
            assert (gate.rows, gate.bytes) == (12, 4000)
    assert (gate.rows, gate.bytes) == (0, 0)
    with gate.admit(rows=10):                       # released on the way out
        pass


def test_released_when_the_request_fails():
    gate = admission.Admission(LIMITS)
    with pytest.raises(RuntimeError):
        with gate.admit(rows=10, nbytes=10):
            raise RuntimeError("model failed")
    assert (gate.rows, gate.bytes) == (0, 0)


# ----- run_in_chunks -----
class _Recorder:
    """A fake model: y = 2 x per row, plus a scale input that is 0-d; records call sizes."""

    def __init__(self):
        self.calls = []

    def __call__(self, inputs, timeout):
        self.calls.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2 * inputs["scale"], "n": inputs["x"][:, :1]}


def test_chunks_cover_every_row_in_order():
    run = _Recorder()
    x = np.arange(20, dtype=np.float32).reshape(10, 2)                 # (B=10, 2)
    out = admission.run_in_chunks(run, {"x": x, "scale": np.float32(3)}, 4)
    assert run.calls == [4, 4, 2]
    np.testing.assert_array_equal(out["y"], x * 6)
    np.testing.assert_array_equal(out["n"], x[:, :1])


def test_small_request_runs_as_sent():
    run = _Recorder()
    admission.run_in_chunks(run, {"x": np.ones((4, 2)), "scale": np.float32(1)}, 4)
    assert run.calls == [4]


def test_async_chunks_match_sync():
    run = _Recorder()

    async def run_async(inputs, timeout):
        return run(inputs, timeout)
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    out = asyncio.run(admission.run_in_chunks_async(run_async, {"x": x, "scale": 1.0}, 3))
    assert run.calls == [3, 3, 1]
    np.testing.assert_array_equal(out["y"], x * 2)


@pytest.mark.parametrize("output,message", [
        (lambda x: {"total": np.sum(x)}, "'total' is not batched"),
        (lambda x: {"tokens": np.zeros((len(x), int(x[0]) + 1))}, "'tokens' has a shape that varies"),
])
def test_unsplittable_outputs_are_named(output, message):
    with pytest.raises(errors.ServingError, match=message) as info:
        admission.run_in_chunks(lambda inputs, _: output(inputs["x"]),
                                {"x": np.arange(5.0)}, 2)
    assert info.value.code == "INVALID_ARGUMENT"
    assert "send at most 2 rows per request" in info.value.message


def test_deadline_checked_between_chunks():
    def slow(inputs, timeout):
        time.sleep(0.05)
        return {"y": inputs["x"]}
    with pytest.raises(errors.ServingError, match=r"Deadline exceeded after \d+ of 100 rows") \
            as info:
        admission.run_in_chunks(slow, {"x": np.arange(100)}, 10, timeout=0.12)
    assert info.value.code == "DEADLINE_EXCEEDED"


# ----- Service and front ends on the toy model, in process -----
@pytest.fixture(scope="module")
def toy_server(toy_versions, tmp_path_factory):
    """A ModelManager, Service (LIMITS) and in-process gRPC + REST on toy version 1; every
    signature's model calls are recorded in `calls` (rows per call)."""
    manager = manager_lib.ModelManager()
    base = str(tmp_path_factory.mktemp("admission") / "toy")
    copy_version(toy_versions, 1, base)
    manager.set_config(config_lib.single_model_config("toy", base))
    service = service_lib.Service(manager, limits=LIMITS)
    calls = []
    with manager.acquire("toy", None, None) as entry:
        for signature in entry.loaded.signatures.values():
            signature.run = _recording(signature.run, calls)
    metrics = metrics_lib.Metrics()
    grpc_srv, grpc_port = grpc_server.start(service, metrics, "127.0.0.1:0", 1 << 20, 4)
    app = rest.RestApp(service, metrics, max_request_bytes=1 << 20)
    rest_srv, rest_port = rest.start(app, "127.0.0.1", 0)
    yield service, calls, f"127.0.0.1:{grpc_port}", rest_port
    rest_srv.shutdown()
    grpc_srv.stop(1)


def _recording(run, calls):
    def recorded(inputs):
        calls.append(len(next(iter(inputs.values()))))
        return run(inputs)
    return recorded


def _texts(n):
    return [f"text {i} good" if i % 3 == 0 else f"text {i}" for i in range(n)]


def test_grpc_predict_runs_in_model_calls_of_bounded_rows(toy_server):
    service, calls, address, _ = toy_server
    calls.clear()
    response = Stubs(address).predict.Predict(predict_request(texts=_texts(8)), timeout=30)
    labels = list(response.outputs["label"].string_val)
    assert labels == [b"positive" if i % 3 == 0 else b"negative" for i in range(8)]
    assert calls == [3, 3, 2]
    assert (service.admission.rows, service.admission.bytes) == (0, 0)


def test_classify_runs_in_model_calls_of_bounded_rows(toy_server):
    _, calls, _, rest_port = toy_server
    calls.clear()
    status, payload = _post(rest_port, "/v1/models/toy:classify",
                            {"signature_name": "classify",
                             "examples": [{"text": t} for t in _texts(7)]})
    assert status == 200, payload
    assert len(payload["results"]) == 7 and calls == [3, 3, 1]


def test_grpc_refusals_name_the_flag(toy_server):
    service, _, address, _ = toy_server
    stub = Stubs(address).predict
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(predict_request(texts=_texts(11)), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "11 rows" in info.value.details() and "--max_rows_per_request" in info.value.details()
    with service.admission.admit(rows=10):
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request(texts=_texts(3)), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max_rows_in_flight" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(predict_request(texts=["x" * 5000]), timeout=30)
    assert "--max_bytes_in_flight" in info.value.details()
    assert len(stub.Predict(predict_request(texts=_texts(10)), timeout=30)
               .outputs["label"].string_val) == 10


def _post(port, path, body, connection=None):
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, json.dumps(body).encode())
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_rest_refusals_keep_the_connection(toy_server):
    """413 / 429 answers are JSON errors naming the flag, on a connection that then serves
    the next request (the refused body was read and dropped)."""
    service, _, _, port = toy_server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    path = "/v1/models/toy:predict"
    status, payload = _post(port, path, {"instances": _texts(11)}, conn)
    assert status == 413 and "--max_rows_per_request" in payload["error"]
    status, payload = _post(port, path, {"instances": ["x" * 5000]}, conn)
    assert status == 413 and "--max_bytes_in_flight" in payload["error"]
    with service.admission.admit(nbytes=3990):
        status, payload = _post(port, path, {"instances": _texts(3)}, conn)
        assert status == 429 and "--max_bytes_in_flight" in payload["error"]
    with service.admission.admit(rows=10):
        status, payload = _post(port, path, {"instances": _texts(3)}, conn)
        assert status == 429 and "--max_rows_in_flight" in payload["error"]
    status, payload = _post(port, path, {"instances": _texts(10)}, conn)
    assert status == 200 and len(payload["predictions"]) == 10
    assert (service.admission.rows, service.admission.bytes) == (0, 0)


def test_loaded_version_classify_chunks(toy_versions):
    loaded = servable.LoadedVersion("toy", 1, toy_versions[1])
    calls = []
    signature = loaded.classify_signature("classify")
    signature.run = _recording(signature.run, calls)
    from tensorflow_serving.apis import input_pb2
    from keras_llm.serving import rest_json
    input_proto = input_pb2.Input()
    rest_json.fill_input(input_proto, {"examples": [{"text": t} for t in _texts(5)]})
    whole = loaded.classify("classify", input_proto)
    assert loaded.classify("classify", input_proto, chunk_rows=2) == whole
    assert calls == [5, 2, 2, 1]
