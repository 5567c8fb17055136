"""finetune(): strategies agree, kill -9 then the same command resumes, evaluation honesty.

The runs are fresh processes of tests/finetune/toy_task.py (the CPU split into 2 logical devices
must happen before TensorFlow starts; a killed run must be a process).
"""
import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _toy(workdir, *args, kill_at=0):
    command = [sys.executable, "-m", "tests.finetune.toy_task", f"--workdir={workdir}", *args]
    env = dict(os.environ)
    if kill_at:  # 0.5 s a batch; SIGKILL 0.6 s after checkpoint `kill_at` is written
        env.update(TOY_SLOW="0.5", TOY_KILL_AFTER=str(
                pathlib.Path(workdir) / "checkpoints" / f"ckpt-{kill_at}.index"))
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          check=False, env=env)
    expected = -signal.SIGKILL if kill_at else 0
    assert done.returncode == expected, done.stderr[-3000:]
    return done


def _history(workdir):
    lines = (pathlib.Path(workdir) / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _losses(workdir):
    return [(r["step"], r["loss"]) for r in _history(workdir) if "loss" in r]


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("one_device")
    done = _toy(workdir, "--cpu_devices=2")
    (workdir / "run.log").write_text(done.stdout + done.stderr)
    return workdir


def test_plain_progress_lines_and_tensorboard_files(one_device):
    log = (one_device / "run.log").read_text()
    assert "step 27/27" in log and "\r" not in log and "\x1b[" not in log  # not a terminal
    for part in ("train", "eval"):
        assert list((one_device / "tensorboard" / part).glob("events.out.tfevents.*")), part


def test_mirrored_on_two_cpus_equals_one_device(one_device, tmp_path):
    _toy(tmp_path, "--cpu_devices=2", "--strategy=mirrored")
    steps, losses = zip(*_losses(tmp_path))
    steps_1, losses_1 = zip(*_losses(one_device))
    assert steps == steps_1 == tuple(range(1, 28))  # 3 epochs x 9 batches of 8 rows
    np.testing.assert_allclose(losses, losses_1, rtol=1e-5)
    # Gradients are summed before clipping (clip_norm=0.05 is active): same weights.
    np.testing.assert_allclose(np.load(tmp_path / "final_weights.npy"),
                               np.load(one_device / "final_weights.npy"), atol=1e-5)


def test_kill_9_mid_epoch_then_the_same_command_resumes(one_device, tmp_path):
    # SIGKILL a step past checkpoint 12 (one every 4 steps): mid-epoch 2, before checkpoint 16.
    _toy(tmp_path, kill_at=12)
    assert (tmp_path / "checkpoints" / "ckpt-12.index").exists()
    assert not (tmp_path / "metrics.json").exists()
    _toy(tmp_path)  # the same command
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["resumed_from"] == 12  # mid-epoch 2 (9 steps an epoch)
    assert metrics["train_steps"] == 27
    steps = [step for step, _ in _losses(tmp_path)]
    assert steps == list(range(1, 28))  # each step once: the killed run's extra steps dropped
    # The same data order and state: the weights of the uninterrupted run.
    np.testing.assert_allclose(np.load(tmp_path / "final_weights.npy"),
                               np.load(one_device / "final_weights.npy"), atol=1e-5)


def test_evaluation_over_no_examples_reports_no_metric(tmp_path, caplog):
    from keras_llm.finetune import finetune
    from tests.finetune import toy_task
    import dataclasses
    config = toy_task.ToyConfig(dev_examples=0)
    config = dataclasses.replace(config, finetune=dataclasses.replace(config.finetune, epochs=1))
    with caplog.at_level("WARNING"):
        result = finetune(toy_task.ToyTask(config), tmp_path)
    assert "measured nothing" in caplog.text
    assert not any("eval" in r for r in _history(tmp_path))
    assert set(result.metrics) == {"train_seconds", "train_steps", "train_examples",
                                   "resumed_from", "trainable_parameters", "total_parameters"}


@pytest.mark.parametrize("precision,jit", [("mixed_bfloat16", False), ("float32", True)])
def test_mixed_precision_and_xla_train(precision, jit, tmp_path):
    from keras_llm.finetune import finetune
    from tests.finetune import toy_task
    import dataclasses
    config = toy_task.ToyConfig()
    config = dataclasses.replace(config, finetune=dataclasses.replace(
            config.finetune, epochs=1, precision=precision, jit_compile=jit))
    result = finetune(toy_task.ToyTask(config), tmp_path)
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert len(losses) == 9 and all(np.isfinite(losses))
    assert result.model.layers[-1].dtype_policy.name == "float32"  # logits stay float32
    if precision != "float32":
        assert result.model.backbone.dtype_policy.name == precision
