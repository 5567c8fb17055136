"""Exported tokenizers and packers use core TensorFlow ops only: a SavedModel holding them loads
and runs in a fresh process that never imports tensorflow_text, and every op of its graph (and
of all its library functions) is registered by core TensorFlow."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import tensorflow as tf

from keras_llm import tokenizers
from keras_llm.utils import graph_ops

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
TEXTS = ["Hello, World! Ünïcödé 中文 naïve café", "", "unaffable \u200b tokens"]

_CHILD = r"""
import json, sys
import tensorflow as tf
from keras_llm.utils import graph_ops
path = sys.argv[1]
loaded = tf.saved_model.load(path)
out = loaded.signatures["serving_default"](text=tf.constant(json.loads(sys.argv[2])))
ops = graph_ops.list_ops(path)
print(json.dumps({
    "outputs": {k: v.numpy().tolist() for k, v in out.items()},
    "tensorflow_text_imported": "tensorflow_text" in sys.modules,
    "n_ops": len(ops),
    "non_core": sorted(graph_ops.non_core_ops(ops)),
}, default=bytes.decode))
"""


def _build_module():
    module = tf.Module()
    module.wordpiece = tokenizers.WordPieceTokenizer(
            str(FIXTURES / "wordpiece_vocab_uncased.txt"))
    module.packer = tokenizers.SegmentPacker(16, module.wordpiece.cls_token_id,
                                             module.wordpiece.sep_token_id)
    has_bpe = hasattr(tokenizers, "BytePairTokenizer")
    if has_bpe:
        module.bpe = tokenizers.BytePairTokenizer(str(FIXTURES / "bpe_vocab.json"),
                                                  str(FIXTURES / "bpe_merges.txt"))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(text):
        ids, starts, ends = module.wordpiece.tokenize_with_offsets(text)
        out = dict(module.packer((ids, ids)))
        out["starts"] = starts.to_tensor(-1)
        out["ends"] = ends.to_tensor(-1)
        out["detokenized"] = module.wordpiece.detokenize(ids)
        if has_bpe:
            out["bpe_ids"] = module.bpe(text).to_tensor(-1)
        return out

    module.serve = serve
    return module, serve, has_bpe


def test_saved_model_runs_without_tensorflow_text(tmp_path):
    module, serve, has_bpe = _build_module()
    path = str(tmp_path / "tokenizers_model")
    tf.saved_model.save(module, path, signatures={"serving_default": serve})
    assert (tmp_path / "tokenizers_model" / "assets" / "vocab.txt").is_file()
    want = {k: v.numpy().tolist() for k, v in serve(tf.constant(TEXTS)).items()}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", _CHILD, path, json.dumps(TEXTS)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["tensorflow_text_imported"]
    assert got["non_core"] == []
    assert got["n_ops"] > 20
    assert set(got["outputs"]) == set(want) and ("bpe_ids" in want) == has_bpe
    for key, value in want.items():
        if key == "detokenized":
            value = [v.decode() for v in value]
            assert value[0] == "hello , world ! unicode 中 文 naive cafe"
            continue
        np.testing.assert_array_equal(got["outputs"][key], value, err_msg=key)


def test_non_core_ops_flags_unknown_ops():
    assert graph_ops.non_core_ops({"MatMul", "StringJoin", "UnicodeDecode"}) == set()
    assert graph_ops.non_core_ops({"FastWordpieceTokenizeWithOffsets", "MatMul"}) == {
            "FastWordpieceTokenizeWithOffsets"}
