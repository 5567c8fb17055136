"""In-process unit tests: config parsing, version policies, the batcher, client retries."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import file_system_storage_path_source_pb2

from keras_llm.serving import Client, ServingError
from keras_llm.serving import batching
from keras_llm.serving import config as config_lib
from keras_llm.serving import manager
from tests.serving.conftest import free_port

Policy = file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy


@pytest.mark.parametrize("text,expected", [
        ("", [5]), ("latest { num_versions: 2 }", [3, 5]), ("all {}", [1, 3, 5]),
        ("specific { versions: 1 versions: 4 }", [1])])
def test_version_policies(text, expected):
    assert manager._apply_policy(text_format.Parse(text, Policy()), [1, 3, 5]) == expected


def test_batching_and_monitoring_files(tmp_path):
    (tmp_path / "b").write_text("max_batch_size { value: 8 } batch_timeout_micros { value: 50 }"
                                " allowed_batch_sizes: 4 allowed_batch_sizes: 8"
                                " pad_variable_length_inputs: true")
    cfg = config_lib.read_batching_parameters(str(tmp_path / "b"))
    assert (cfg.max_batch_size, cfg.batch_timeout_micros, cfg.max_enqueued_batches) == (8, 50, 10)
    assert cfg.allowed_batch_sizes == (4, 8) and cfg.pad_variable_length_inputs
    (tmp_path / "bad").write_text("max_batch_size { value: 8 } allowed_batch_sizes: 4")
    with pytest.raises(ValueError, match="last allowed_batch_sizes"):
        config_lib.read_batching_parameters(str(tmp_path / "bad"))
    (tmp_path / "m").write_text("prometheus_config { enable: true }")
    assert config_lib.read_monitoring_path(str(tmp_path / "m")) == "/monitoring/prometheus/metrics"
    (tmp_path / "c").write_text('model_config_list { config { name: "a" } }')
    with pytest.raises(ValueError, match="has no base_path"):
        config_lib.read_model_config_file(str(tmp_path / "c"))
    (tmp_path / "d").write_text("model_config_list { nonsense: 1 }")
    with pytest.raises(ValueError, match="not a valid text proto"):
        config_lib.read_model_config_file(str(tmp_path / "d"))


class _CountingSignature:
    name = "fake"

    def __init__(self):
        self.batches = []

    def run(self, inputs):
        self.batches.append(len(inputs["text"]))
        time.sleep(0.05)
        return {"length": np.array([len(t) for t in inputs["text"]], np.int32),
                "echo": inputs["text"]}


def test_batcher_merges_concurrent_requests_and_splits_answers():
    signature = _CountingSignature()
    batcher = batching.Batcher(signature, config_lib.BatchingConfig(
            max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1))
    texts = [[b"a"], [b"bb", b"ccc"], [b"dddd"], [b"e" * 7, b"f", b"gg"]]
    results = _send_together(batcher, [{"text": np.array(t, dtype=object)} for t in texts])
    assert signature.batches == [7]          # one call for all four requests
    for text, result in zip(texts, results):
        assert result["length"].tolist() == [len(t) for t in text]
        assert result["echo"].tolist() == text


class _RecordingSignature:
    """Echoes its inputs and records each merged batch it was called with."""
    name = "fake"

    def __init__(self):
        self.calls = []

    def run(self, inputs):
        self.calls.append({alias: value.copy() for alias, value in inputs.items()})
        return {"ids": inputs["ids"], "rows": np.arange(len(inputs["ids"]))}


def _send_together(batcher, requests):
    """Submits every request from its own thread at once; closes the batcher; the answers."""
    results = [None] * len(requests)

    def send(i):
        results[i] = batcher.submit(requests[i], timeout=10)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    return results


def test_batcher_pads_to_allowed_batch_sizes_with_the_first_row():
    signature = _RecordingSignature()
    batcher = batching.Batcher(signature, config_lib.BatchingConfig(
            max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1,
            allowed_batch_sizes=(2, 4, 8)))
    requests = [{"ids": np.array([[1, 2]], np.int32)}, {"ids": np.array([[3, 4], [5, 6]],
                                                                        np.int32)}]
    results = _send_together(batcher, requests)
    (merged,) = signature.calls
    assert merged["ids"].shape == (4, 2)              # 3 rows padded up to 4
    assert merged["ids"][3].tolist() == merged["ids"][0].tolist()   # copy of the first row
    assert sorted(r["ids"].tolist() for r in results) == [[[1, 2]], [[3, 4], [5, 6]]]
    assert sorted(len(r["rows"]) for r in results) == [1, 2]   # padding rows dropped
    # a lone task is padded too
    signature = _RecordingSignature()
    batcher = batching.Batcher(signature, config_lib.BatchingConfig(
            max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1,
            allowed_batch_sizes=(2, 4, 8)))
    (result,) = _send_together(batcher, [{"ids": np.array([[7]], np.int32)}])
    assert signature.calls[0]["ids"].tolist() == [[7], [7]]
    assert result["ids"].tolist() == [[7]]


def test_batcher_pad_variable_length_inputs():
    requests = [{"ids": np.array([[1, 2, 3]], np.int32)}, {"ids": np.array([[9, 8]], np.int32)}]
    # padding off: different non-batch shapes never share a batch (each still answered)
    signature = _RecordingSignature()
    batcher = batching.Batcher(signature, config_lib.BatchingConfig(
            max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1))
    results = _send_together(batcher, requests)
    assert sorted(c["ids"].shape for c in signature.calls) == [(1, 2), (1, 3)]
    assert [r["ids"].tolist() for r in results] == [[[1, 2, 3]], [[9, 8]]]
    # padding on: one batch, the short input padded with its own first element
    signature = _RecordingSignature()
    batcher = batching.Batcher(signature, config_lib.BatchingConfig(
            max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1,
            pad_variable_length_inputs=True))
    results = _send_together(batcher, requests)
    (merged,) = signature.calls
    assert sorted(merged["ids"].tolist()) == [[1, 2, 3], [9, 8, 9]]
    assert sorted(r["ids"].tolist() for r in results) == [[[1, 2, 3]], [[9, 8, 9]]]


def test_batcher_async_submit_and_deadline():
    import asyncio
    signature = _CountingSignature()
    batcher = batching.Batcher(signature, config_lib.BatchingConfig(
            max_batch_size=4, batch_timeout_micros=200_000, num_batch_threads=1))

    async def main():
        texts = [[b"a"], [b"bb", b"ccc"]]
        answers = await asyncio.gather(*[batcher.submit_async(
                {"text": np.array(t, dtype=object)}, timeout=10) for t in texts])
        assert [a["echo"].tolist() for a in answers] == texts
        # a deadline shorter than the batch timeout: the task is dropped, never run
        with pytest.raises(ServingError) as info:
            await batcher.submit_async({"text": np.array([b"late"], dtype=object)},
                                       timeout=0.05)
        assert info.value.code == "DEADLINE_EXCEEDED"
    asyncio.run(main())
    time.sleep(0.4)
    batcher.close()
    assert signature.batches == [3]
    assert batcher._queued_rows == 0


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_client_retries_unavailable_then_raises(protocol):
    client = Client(f"127.0.0.1:{free_port()}", protocol=protocol, timeout=2, retries=2,
                    backoff=0.05)
    start = time.monotonic()
    with pytest.raises(ServingError) as info:
        client.status("toy")
    assert info.value.code == "UNAVAILABLE"
    assert time.monotonic() - start >= 0.05 + 0.1   # two backoffs: 0.05 s and 0.1 s


def test_serve_help_lists_flags():
    done = subprocess.run(["keras-llm-serve", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    for flag in ("--port:", "--rest_api_port:", "--model_config_file:",
                 "--[no]enable_batching:", "--batching_parameters_file:",
                 "--monitoring_config_file:", "--grpc_bind_address:",
                 "--rest_api_bind_address:", "--max_request_bytes:",
                 "--file_system_poll_wait_seconds:", "--rest_api_timeout_in_ms:",
                 "--tensorflow_session_parallelism:", "--tensorflow_intra_op_parallelism:",
                 "--tensorflow_inter_op_parallelism:"):
        assert flag in done.stdout, flag


def test_thread_flags_follow_tensorflow_model_server_rules():
    from keras_llm.serving.server import thread_pools
    assert thread_pools(0, 0, 0) == {"intra_op_threads": 0, "inter_op_threads": 0}
    assert thread_pools(3, 0, 0) == {"intra_op_threads": 3, "inter_op_threads": 3}
    # intra or inter given: they win over session, the other one stays auto
    assert thread_pools(3, 1, 0) == {"intra_op_threads": 1, "inter_op_threads": 0}
    assert thread_pools(0, 2, 1) == {"intra_op_threads": 2, "inter_op_threads": 1}
    with pytest.raises(ValueError, match="You cannot configure all"):
        thread_pools(2, 1, 1)
    with pytest.raises(ValueError, match=r"--tensorflow_inter_op_parallelism must be >= 0 .* -1"):
        thread_pools(0, 0, -1)


def test_thread_pools_are_set_before_tensorflow_starts_and_refused_after():
    code = """if True:
        import tensorflow as tf
        from keras_llm.serving.server import configure_thread_pools
        configure_thread_pools(1, 2)
        print(tf.config.threading.get_intra_op_parallelism_threads(),
              tf.config.threading.get_inter_op_parallelism_threads())
        tf.constant(1.0) + 1.0                   # TensorFlow has started
        configure_thread_pools(1, 2)             # unchanged: fine
        try:
            configure_thread_pools(2, 2)
        except ValueError as e:
            print(e)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "1 2"
    assert lines[1].startswith("cannot set TensorFlow's intra-op threads to 2: TensorFlow "
                               "already started in this process")


def test_server_applies_thread_flags_and_rejects_conflicting_ones(tmp_path, toy_versions):
    from tests.serving.conftest import ServerProcess, copy_version
    base = str(tmp_path / "toy")
    copy_version(toy_versions, 1, base)
    server = ServerProcess(str(tmp_path), "--model_name=toy", f"--model_base_path={base}",
                           "--tensorflow_intra_op_parallelism=1",
                           "--tensorflow_inter_op_parallelism=2")
    try:
        assert "TensorFlow thread pools: intra-op 1, inter-op 2" in server.log()
    finally:
        assert server.stop() == 0
    done = subprocess.run(
            [sys.executable, "-m", "keras_llm.serving.main", "--port=0",
             "--model_name=toy", f"--model_base_path={base}",
             "--tensorflow_session_parallelism=2", "--tensorflow_intra_op_parallelism=1",
             "--tensorflow_inter_op_parallelism=1"],
            capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "You cannot configure all" in done.stderr
    assert "Traceback" not in done.stderr


def test_manager_loads_a_new_version_only_once_its_files_are_stable(tmp_path, toy_versions):
    from tests.serving.conftest import copy_version
    base = str(tmp_path / "toy")
    copy_version(toy_versions, 1, base)
    models = manager.ModelManager()
    models.set_config(config_lib.single_model_config("toy", base))
    assert [(v, s) for v, s, _ in models.status("toy")] == [(1, "AVAILABLE")]
    copy_version(toy_versions, 2, base)
    models.poll()        # first sighting: not loaded yet (could still be being written)
    assert [v for v, _, _ in models.status("toy")] == [1]
    models.poll()        # unchanged since the last poll: load it, then unload version 1
    models.wait_unloaded(timeout=30)
    assert [(v, s) for v, s, _ in models.status("toy")] == [(2, "AVAILABLE"), (1, "END")]
    with models.acquire("toy") as entry:
        assert entry.version == 2
    models.set_config(config_lib.single_model_config("other", base))
    with pytest.raises(ServingError, match=r"Latest\(toy\)"):
        models.acquire("toy").__enter__()
    with models.acquire("other") as entry:
        assert entry.version == 2


def test_manager_base_path_change_serves_the_new_files(tmp_path, toy_versions):
    """Same model name and version number, new base_path: the new files are loaded before
    the old version is unloaded, and answers come from the new path."""
    from tests.serving.conftest import copy_version
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    copy_version(toy_versions, 1, old)
    copy_version(toy_versions, 2, new, as_version=1)
    models = manager.ModelManager()
    models.set_config(config_lib.single_model_config("toy", old))
    with models.acquire("toy") as entry:
        before = entry
        assert entry.loaded.path == os.path.join(old, "1")
    models.set_config(config_lib.single_model_config("toy", new))
    with models.acquire("toy") as entry:
        assert entry.version == 1 and entry.loaded.path == os.path.join(new, "1")
    models.wait_unloaded(timeout=30)
    assert before.state == "END"


def test_model_config_file_watcher_applies_only_new_valid_configs(tmp_path, caplog):
    path = tmp_path / "models.config"
    good = 'model_config_list { config { name: "a" base_path: "/a" } }'
    path.write_text(good)
    watcher = config_lib.ModelConfigFileWatcher(str(path))
    assert [c.name for c in watcher.load().config] == ["a"]
    applied = []
    assert not watcher.poll(applied.append)                 # unchanged
    path.write_text("# same models\n" + good)
    assert not watcher.poll(applied.append)                 # same ModelConfigList
    no_base_path = 'model_config_list { config { name: "a" } }'
    for bad in ("model_config_list { config { name: ", no_base_path):
        path.write_text(bad)
        assert not watcher.poll(applied.append)
        assert not watcher.poll(applied.append)             # logged once, not every poll
    path.unlink()
    assert not watcher.poll(applied.append)
    assert not watcher.poll(applied.append)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 3, errors
    assert "is not a valid text proto" in errors[0]
    assert "model 'a' has no base_path" in errors[1] and str(path) in errors[1]
    assert "cannot read model config file" in errors[2]
    assert applied == []
    path.write_text(good.replace('"/a"', '"/b"'))
    assert watcher.poll(applied.append)
    assert [c.base_path for c in applied[0].config] == ["/b"]


def test_fill_tensor_proto_equals_make_tensor_proto():
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2
    from keras_llm.serving import service
    arrays = [np.array([b"a", b"bc"], dtype=object), np.array([[b"x"]], dtype=object),
              np.array([b"a", "b"], dtype=object), np.array(["u", "v"]), np.array(3.0, np.float32),
              np.array([1 + 2j]), np.array(b"s", dtype=object)]
    for dtype in (np.float32, np.float64, np.int32, np.int64, np.int8, np.uint8, np.int16,
                  np.uint16, np.uint32, np.uint64, np.bool_):
        for shape in ((3,), (2, 2), (0,), (1,), (1, 1, 1), (2, 0, 3)):
            size = int(np.prod(shape))
            arrays.append((np.arange(size) % 3).astype(dtype).reshape(shape))
    for array in arrays:
        proto = tensor_pb2.TensorProto()
        service.fill_tensor_proto(proto, array)
        assert proto == tf.make_tensor_proto(array), (array.dtype, array.shape)


def test_decode_inputs_string_fast_path_equals_make_ndarray():
    import tensorflow as tf
    from keras_llm.serving import service

    class _AnySignature:
        def check_aliases(self, names):
            pass
    for value in ([b"a", b"bc"], [[b"x", b""], [b"y", b"z"]], b"scalar", [], [[b"\xff"]]):
        proto = tf.make_tensor_proto(value, dtype=tf.string)
        (array,) = service.decode_inputs(_AnySignature(), {"t": proto}).values()
        expected = tf.make_ndarray(proto)
        assert array.dtype == object and array.shape == expected.shape
        assert array.tolist() == expected.tolist()
