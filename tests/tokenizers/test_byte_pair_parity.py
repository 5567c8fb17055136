"""Slow tier: scripts/tokenizer_parity_bpe.py on the first 2,000 sentences of every corpus.

    pytest -m slow tests/tokenizers/test_byte_pair_parity.py
"""
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.needs_data
def test_parity_script_finds_no_mismatch(tmp_path):
    run = subprocess.run(
            [sys.executable, "scripts/tokenizer_parity_bpe.py", "--limit=2000",
             f"--output_dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=1800,
            check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads((tmp_path / "tokenizer_parity_bpe.json").read_text(encoding="utf-8"))
    assert result["total_mismatches"] == 0
    assert result["total_sentences"] > 8000  # squad has fewer than 2,000 contexts
    assert result["vocabulary"]["merges_identical_to_hf_bpe_trainer"] is True
