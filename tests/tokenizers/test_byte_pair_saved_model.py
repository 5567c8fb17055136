"""A SavedModel holding BytePairTokenizer loads and runs in a fresh process without tensorflow_text."""
import json
import pathlib
import shutil
import subprocess
import sys
import textwrap

import tensorflow as tf

from keras_llm.tokenizers.byte_pair import BytePairTokenizer

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
TEXTS = ["First Citizen:\nSpeak, speak.", "", "caf\u00e9  \u65e5\u672c  \U0001f600 it's\t\n", "  x  "]

# Runs in a fresh interpreter: plain TensorFlow (no keras_llm layers, no tensorflow_text).
CHILD = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    path, texts = sys.argv[1], json.loads(sys.argv[2])
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["tokenize"](text=tf.constant(texts))
    rows = lambda v: tf.RaggedTensor.from_row_splits(out[v], out["row_splits"]).to_list()
    text = loaded.signatures["detokenize"](
        token_ids=out["token_ids"], row_splits=out["row_splits"])["text"]
    result = {"ids": rows("token_ids"), "starts": rows("starts"), "ends": rows("ends"),
              "text": [t.decode("utf-8") for t in text.numpy()]}
    try:
        from keras_llm.utils import graph_ops
        result["non_core_ops"] = sorted(graph_ops.non_core_ops(graph_ops.list_ops(path)))
    except ImportError:  # the shared op checker is not in this tree
        result["non_core_ops"] = None
    result["tensorflow_text_imported"] = "tensorflow_text" in sys.modules
    print(json.dumps(result))
""")


class _Export(tf.Module):
    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(self, text):
        ids, starts, ends = self.tokenizer.tokenize_with_offsets(text)
        return {"token_ids": ids.flat_values, "starts": starts.flat_values,
                "ends": ends.flat_values, "row_splits": ids.row_splits}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="token_ids"),
                                  tf.TensorSpec([None], tf.int64, name="row_splits")])
    def detokenize(self, token_ids, row_splits):
        ids = tf.RaggedTensor.from_row_splits(token_ids, row_splits)
        return {"text": self.tokenizer.detokenize(ids)}


def test_saved_model_runs_in_fresh_process_with_core_ops_only(tmp_path):
    tokenizer = BytePairTokenizer(str(FIXTURES / "bpe_vocab.json"), str(FIXTURES / "bpe_merges.txt"))
    module = _Export(tokenizer)
    path = tmp_path / "bpe"
    tf.saved_model.save(module, str(path), signatures={"tokenize": module.tokenize,
                                                       "detokenize": module.detokenize})
    assets = sorted(p.name for p in (path / "assets").iterdir())
    assert assets == ["merges.txt", "vocab.txt"]
    # The tables must be rebuilt from the SavedModel's own assets, not the temporary files.
    shutil.rmtree(tokenizer._asset_directory)  # pylint: disable=protected-access

    root = pathlib.Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", CHILD, str(path), json.dumps(TEXTS)], cwd=root,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])

    ids, starts, ends = tokenizer.encode_with_offsets(TEXTS)
    assert result["ids"] == ids
    assert (result["starts"], result["ends"]) == (starts, ends)
    assert result["text"] == TEXTS
    assert result["tensorflow_text_imported"] is False
    if result["non_core_ops"] is not None:
        assert result["non_core_ops"] == []
