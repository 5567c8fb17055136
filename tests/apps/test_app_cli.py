"""Every app command: --help explains and exits 0; a bad path is one clear line; the shipped
NER and generation models answer through `predict`."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
COMMANDS = [(app, command) for app in ("qa", "ner", "generate", "translate", "summarize")
            for command in ("train", "evaluate", "export", "predict")]


def _run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, input=stdin, text=True,
                          capture_output=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


@pytest.mark.parametrize("app, command", COMMANDS)
def test_help_exits_0(app, command):
    done = _run(f"apps.{app}.{command}", "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--" in done.stdout and len(done.stdout.splitlines()) > 3


@pytest.mark.parametrize("module, flag", [("apps.generate.export", "--workdir"),
                                          ("apps.generate.evaluate", "--saved_model"),
                                          ("apps.ner.evaluate", "--saved_model"),
                                          ("apps.translate.export", "--workdir"),
                                          ("apps.translate.evaluate", "--saved_model")])
def test_a_bad_path_is_one_clear_line(module, flag):
    done = _run(module, f"{flag}=/nonexistent/run")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "/nonexistent/run" in lines[-1]
    assert "Traceback" not in done.stderr


def test_ner_predict_with_the_shipped_model():
    done = _run("apps.ner.predict", "Angela Merkel visited Paris.")
    assert done.returncode == 0, done.stderr[-2000:]
    entities = json.loads(done.stdout.strip().splitlines()[-1])["entities"]
    text = "Angela Merkel visited Paris."
    assert {(e["text"], e["type"]) for e in entities} == {("Angela Merkel", "PER"),
                                                            ("Paris", "LOC")}
    assert all(text[e["start"]:e["end"]] == e["text"] for e in entities)
