"""Versions appear, break and disappear under a running keras-llm-serve, under load."""
import os
import shutil
import threading
import time

import pytest

from keras_llm.serving import Client, ServingError
from tests.serving.conftest import ServerProcess, copy_version


def _wait_for(predicate, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def swap_server(tmp_path_factory, toy_versions):
    root = tmp_path_factory.mktemp("swap")
    base = str(root / "toy")
    copy_version(toy_versions, 1, base)
    proc = ServerProcess(str(root), "--model_name=toy", f"--model_base_path={base}",
                         "--file_system_poll_wait_seconds=1")
    yield proc, base
    assert proc.stop() == 0, proc.log()


def _load(client, stop, record):
    while not stop.is_set():
        try:
            label = client.predict("toy", {"text": ["good"]})["label"][0].decode()
            record.append(label)
        except ServingError as e:  # counted: the test demands zero
            record.append(e)


def test_hot_swap_under_load(swap_server, toy_versions):
    proc, base = swap_server
    clients = [Client(proc.grpc_address, retries=0), Client(proc.grpc_address, retries=0),
               Client(proc.rest_address, protocol="rest", retries=0),
               Client(proc.rest_address, protocol="rest", retries=0)]
    stop, records = threading.Event(), [[] for _ in clients]
    threads = [threading.Thread(target=_load, args=(c, stop, r))
               for c, r in zip(clients, records)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        copy_version(toy_versions, 2, base)  # written aside, renamed in
        switched = _wait_for(lambda: all(r and r[-1] == "POSITIVE" for r in records))
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    failures = [x for r in records for x in r if isinstance(x, ServingError)]
    assert not failures, failures[:3]
    assert switched, [r[-3:] for r in records]
    for record in records:
        assert record[0] == "positive"
        first_v2 = record.index("POSITIVE")
        assert set(record[first_v2:]) == {"POSITIVE"}  # never back to v1 once swapped
    assert sum(len(r) for r in records) > 20


def test_half_written_and_broken_versions_are_not_served(swap_server, toy_versions):
    proc, base = swap_server
    client = Client(proc.grpc_address)
    _wait_for(lambda: [s["state"] for s in client.status("toy")][:1] == ["AVAILABLE"])
    broken = os.path.join(base, "7")
    os.makedirs(os.path.join(broken, "variables"))
    with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
        f.write(b"\x08half-written")
    incomplete = os.path.join(base, "8")
    os.makedirs(os.path.join(incomplete, "variables"))   # no saved_model.pb yet
    assert _wait_for(lambda: any(s["version"] == 7 and s["state"] == "END"
                                 for s in client.status("toy")))
    status = {s["version"]: s for s in client.status("toy")}
    assert status[7]["error_code"] != "OK" and status[7]["error_message"]
    assert 8 not in status
    assert client.predict("toy", {"text": ["good"]})["label"][0] == b"POSITIVE"
    shutil.rmtree(broken)
    shutil.rmtree(incomplete)


def test_removing_a_version_unloads_it(swap_server):
    proc, base = swap_server
    client = Client(proc.grpc_address)
    shutil.rmtree(os.path.join(base, "2"))
    assert _wait_for(lambda: client.predict("toy", {"text": ["good"]})["label"][0]
                     == b"positive")
    assert _wait_for(lambda: {s["version"]: s["state"] for s in client.status("toy")}.get(2)
                     == "END")
    with pytest.raises(ServingError) as info:
        client.predict("toy", {"text": ["good"]}, version=2)
    assert info.value.code == "NOT_FOUND"
