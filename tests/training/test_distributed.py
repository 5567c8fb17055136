"""Data parallelism and crash recovery, each run in fresh processes (devices/TF_CONFIG never leak).

- MirroredStrategy on 2 logical CPUs == one device on the same global batch (losses and weights);
- MultiWorkerMirroredStrategy, 2 worker processes on 127.0.0.1: identical final weights;
- SIGKILL mid-run, same command again: resumes from the last checkpoint, same end state.
"""
import json
import os
import signal
import socket
import subprocess
import time

import numpy as np
import pytest

from tests.training.conftest import (PROJECT_ROOT, assert_same_weights, cli_command,
                                     model_weights, run_cli, subprocess_env, tiny_overrides)


def test_mirrored_two_cpus_matches_one_device(corpus, tmp_path):
    overrides = tiny_overrides(corpus, 4, ["global_batch_size=8", "data.max_eval_batches=0"])
    one = run_cli("bert_mlm_tiny", tmp_path / "one", overrides, cpu_devices=2)
    two = run_cli("bert_mlm_tiny", tmp_path / "two", overrides, strategy="mirrored",
                  cpu_devices=2)
    assert len(one["losses"]) == 4
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)
    assert_same_weights(model_weights(tmp_path / "two" / "checkpoints"),
                        model_weights(tmp_path / "one" / "checkpoints"), atol=1e-5)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_two_processes(corpus, tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    overrides = tiny_overrides(corpus, 4, ["global_batch_size=8", "data.max_eval_batches=0"])
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers},
                                "task": {"type": "worker", "index": index}})
        cmd = cli_command("gpt_clm_tiny", tmp_path, overrides, "multi_worker_mirrored",
                          result=str(tmp_path / f"result_{index}.json"))
        procs.append(subprocess.Popen(cmd, env=subprocess_env(TF_CONFIG=tf_config),
                                      cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    try:
        errors = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], errors[0][-3000:] + errors[1][-3000:]
    results = [json.loads((tmp_path / f"result_{i}.json").read_text()) for i in range(2)]
    assert results[0]["step"] == results[1]["step"] == 4
    np.testing.assert_allclose(results[0]["losses"], results[1]["losses"], rtol=1e-6)
    assert_same_weights(model_weights(tmp_path / "checkpoints"),
                        model_weights(tmp_path / "worker_1" / "checkpoints"), atol=0)


def test_sigkill_then_same_command_resumes(corpus, tmp_path):
    overrides = tiny_overrides(corpus, 30, ["checkpoint_every=6", "model.dropout=0.1",
                                            "data.max_eval_batches=0"])
    reference = run_cli("gpt_clm_tiny", tmp_path / "reference", overrides)
    workdir = tmp_path / "killed"
    cmd = cli_command("gpt_clm_tiny", workdir, overrides, result=str(workdir / "result.json"))
    proc = subprocess.Popen(cmd, env=subprocess_env(), cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (workdir / "checkpoints" / "ckpt-12.index").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before checkpoint 12"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (workdir / "result.json").exists(), "the run finished before it was killed"
    resumed = run_cli("gpt_clm_tiny", workdir, overrides)
    # Killed right as ckpt-12 was being written: the last *committed* checkpoint is 6 or 12
    # (the `checkpoint` index is updated atomically after the files), or later ones.
    assert resumed["resumed_from"] in (6, 12, 18, 24), resumed["resumed_from"]
    assert resumed["step"] == 30
    # Same data position, optimizer state and dropout RNG: the resumed tail is the reference's.
    tail = len(resumed["losses"])
    np.testing.assert_allclose(resumed["losses"], reference["losses"][-tail:], rtol=1e-4)
    assert_same_weights(model_weights(workdir / "checkpoints"),
                        model_weights(tmp_path / "reference" / "checkpoints"), atol=1e-4)
    # The killed process had logged steps past its last checkpoint: history lists each once.
    history = [json.loads(line) for line in (workdir / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history if "loss" in r] == list(range(1, 31))
