"""Server-side batching: correct split answers, full queue, requests over max_batch_size,
clean SIGTERM."""
import threading
import time

import pytest

from keras_llm.serving import Client, ServingError
from tests.serving.conftest import BATCH_FILE, ServerProcess, copy_version


@pytest.fixture(scope="module")
def batch_server(tmp_path_factory, toy_versions):
    root = tmp_path_factory.mktemp("batching")
    copy_version(toy_versions, 1, str(root / "toy"))
    (root / "batching.config").write_text(BATCH_FILE)
    proc = ServerProcess(str(root), "--model_name=toy", f"--model_base_path={root / 'toy'}",
                         "--enable_batching",
                         f"--batching_parameters_file={root / 'batching.config'}")
    yield proc
    proc.stop()


def _in_threads(calls):
    results = [None] * len(calls)

    def run(i):
        try:
            results[i] = calls[i]()
        except ServingError as e:
            results[i] = e
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for i, t in enumerate(threads):
        t.start()
        time.sleep(0.2)   # keep the enqueue order deterministic
    for t in threads:
        t.join()
    return results


def test_variable_length_strings_batched_and_split(batch_server):
    grpc_client = Client(batch_server.grpc_address)
    rest_client = Client(batch_server.rest_address, protocol="rest")
    texts = [["good"], ["a much longer sentence that is not positive"],
             ["x", "good and long enough"]]   # 4 rows = max_batch_size: runs at once
    clients = [grpc_client, rest_client, grpc_client]
    start = time.monotonic()
    results = _in_threads([lambda c=c, t=t: c.predict("toy", {"text": t})
                           for c, t in zip(clients, texts)])
    elapsed = time.monotonic() - start
    assert [list(r["label"]) for r in results] == [
            [b"positive"], [b"negative"], [b"negative", b"positive"]]
    assert [r["probabilities"].shape for r in results] == [(1, 2), (1, 2), (2, 2)]
    # a full batch does not wait for the 1.5 s batch timeout
    assert elapsed < 1.5 + 0.4 * len(texts), elapsed


def test_full_queue_is_unavailable(batch_server):
    client = Client(batch_server.grpc_address, retries=0)
    results = _in_threads([lambda: client.predict("toy", {"text": ["a", "b", "good"]}),
                           lambda: client.predict("toy", {"text": ["c", "d"]})])
    assert list(results[0]["label"]) == [b"negative", b"negative", b"positive"]
    assert isinstance(results[1], ServingError)
    assert results[1].code == "UNAVAILABLE"
    assert results[1].message == ("The batch scheduling queue to which this task was "
                                  "submitted is full")


def test_request_over_max_batch_size_runs_in_batches(batch_server):
    """5 rows with max_batch_size 4: split into tasks of 4 and 1 (as stock's large batch
    splitting), answered in order, over both protocols."""
    texts = ["a", "good", "b", "c", "so good"]
    for client in (Client(batch_server.grpc_address),
                   Client(batch_server.rest_address, protocol="rest")):
        result = client.predict("toy", {"text": texts})
        assert list(result["label"]) == [b"negative", b"positive", b"negative",
                                         b"negative", b"positive"]
        assert result["probabilities"].shape == (5, 2)


def test_sigterm_finishes_in_flight_requests(batch_server):
    """Runs last: a request waiting in the batch queue still gets its answer."""
    client = Client(batch_server.rest_address, protocol="rest", retries=0)
    result = {}
    thread = threading.Thread(target=lambda: result.update(
            client.predict("toy", {"text": ["good"]})))
    thread.start()
    time.sleep(0.5)
    assert batch_server.stop() == 0, batch_server.log()
    thread.join()
    assert list(result["label"]) == [b"positive"]
