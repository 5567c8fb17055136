"""The sentiment app's command-line entry points, run as a user runs them (fresh processes)."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "saved_models" / "sentiment"


def _run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, input=stdin, text=True,
                          capture_output=True, timeout=300, check=False)


def test_predict_classifies_with_the_shipped_model():
    done = _run("apps.sentiment.predict", f"--saved_model={SHIPPED}",
                "A wonderful, moving film with a great cast.",
                "Dull plot, wooden acting, a waste of two hours.")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["label"] for row in rows] == ["positive", "negative"]
    for row in rows:
        assert abs(sum(row["probabilities"]) - 1.0) < 1e-3


def test_predict_reads_stdin_and_accepts_a_version_folder():
    done = _run("apps.sentiment.predict", f"--saved_model={SHIPPED / '2'}",
                stdin="a joyous , life-affirming film\n\n")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["text"] for row in rows] == ["a joyous , life-affirming film", ""]
    assert rows[0]["label"] == "positive" and rows[1]["label"] in ("positive", "negative")


def test_every_command_has_help_that_exits_0():
    for command in ("train", "evaluate", "export", "predict"):
        done = _run(f"apps.sentiment.{command}", "--help")
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert "--workdir" in done.stdout or "--saved_model" in done.stdout, command


def test_a_bad_path_is_one_clear_line():
    done = _run("apps.sentiment.evaluate", "--workdir=/nonexistent/run")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in done.stderr and "/nonexistent/run" in done.stderr
