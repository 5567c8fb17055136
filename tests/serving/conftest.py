"""Fixtures for the serving tests: toy SavedModels and real keras-llm-serve processes."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.serving import toy_models

BATCH_FILE = """
max_batch_size { value: 4 }
batch_timeout_micros { value: 1500000 }
max_enqueued_batches { value: 1 }
num_batch_threads { value: 1 }
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A keras-llm-serve subprocess on free ports; stop() sends SIGTERM and returns the code."""

    def __init__(self, workdir, *flags, timeout=120):
        self.grpc_port, self.rest_port = free_port(), free_port()
        self.log_path = os.path.join(workdir, f"server-{self.grpc_port}.log")
        cmd = [sys.executable, "-m", "keras_llm.serving.main", f"--port={self.grpc_port}",
               f"--rest_api_port={self.rest_port}", *flags]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._wait_healthy(timeout)

    @property
    def grpc_address(self):
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_address(self):
        return f"127.0.0.1:{self.rest_port}"

    def _wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.log()}")
            try:
                with urllib.request.urlopen(f"http://{self.rest_address}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout}s: {self.log()}")

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def toy_versions(tmp_path_factory):
    """Folders holding toy version 1 and 2 (built once per session), to copy from."""
    root = tmp_path_factory.mktemp("toy_versions")
    return {v: toy_models.write_toy_version(str(root / str(v)), v) for v in (1, 2)}


def copy_version(toy_versions, version, base, as_version=None):
    """Copies a toy version into base/<n> atomically (written aside, then renamed in)."""
    os.makedirs(base, exist_ok=True)
    staging = os.path.join(os.path.dirname(base), f".staging-{os.path.basename(base)}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(toy_versions[version], staging)
    target = os.path.join(base, str(as_version or version))
    os.rename(staging, target)
    return target


@pytest.fixture(scope="session")
def model_root(tmp_path_factory, toy_versions):
    """A models dir: toy (v1, v2), single (v1 only), broken (garbage version 5)."""
    root = tmp_path_factory.mktemp("models")
    for version in (1, 2):
        copy_version(toy_versions, version, str(root / "toy"))
    copy_version(toy_versions, 1, str(root / "single"))
    bad = root / "broken" / "5"
    bad.mkdir(parents=True)
    (bad / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    config = root / "models.config"
    config.write_text(f"""
model_config_list {{
  config {{
    name: "toy" base_path: "{root / 'toy'}" model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
  config {{ name: "single" base_path: "{root / 'single'}" model_platform: "tensorflow" }}
  config {{ name: "broken" base_path: "{root / 'broken'}" model_platform: "tensorflow" }}
}}
""")
    (root / "monitoring.config").write_text(
            'prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }')
    return root


@pytest.fixture(scope="session")
def server(model_root, tmp_path_factory):
    """One conformance server for the session (config file, labels, metrics, small limit)."""
    proc = ServerProcess(str(tmp_path_factory.mktemp("logs")),
                         f"--model_config_file={model_root / 'models.config'}",
                         f"--monitoring_config_file={model_root / 'monitoring.config'}",
                         "--max_request_bytes=200000", "--file_system_poll_wait_seconds=1")
    yield proc
    assert proc.stop() == 0, proc.log()
