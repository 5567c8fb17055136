"""`keras_llm.export.check(path)` / `keras-llm-check PATH`: will stock TF Serving serve this?

1. Lists the graph's ops and flags those outside core TensorFlow (keras_llm.utils.graph_ops).
2. Names the stock TF Serving releases able to load it (keras_llm.export.releases).
3. Loads the SavedModel and runs every signature once: the warmup requests in
   `assets.extra/` (as the server replays them at load), then synthesized inputs with edge
   cases (empty, very long, non-Latin text) for each signature.

Run it in a process that never imported tensorflow_text (the CLI is one): importing it
registers TF-Text kernels, and a graph using them would then look loadable.
"""
import dataclasses
import pathlib
import sys
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from keras_llm.export import releases
from keras_llm.export import versions
from keras_llm.export import warmup
from keras_llm.models import quantization
from keras_llm.utils import graph_ops

EDGE_TEXTS = ("", "ok", "Ünïcödé 映画 😀 ñ", "word " * 20000)


@dataclasses.dataclass
class SignatureRun:
    name: str
    inputs: Dict[str, str]  # alias -> "dtype shape"
    outputs: Dict[str, str]  # alias -> "dtype shape" of the actual result
    source: str  # "warmup" or "synthesized"
    error: Optional[str] = None


@dataclasses.dataclass
class CheckReport:
    path: str
    ops: List[str]
    non_core_ops: List[str]
    serving_releases: List[str]
    runs: List[SignatureRun]
    tensorflow_text_imported: bool
    weights: Dict[str, int] = dataclasses.field(default_factory=dict)  # dtype -> parameters

    @property
    def ok(self) -> bool:
        return not self.non_core_ops and all(r.error is None for r in self.runs)

    def summary(self) -> str:
        lines = [f"SavedModel: {self.path}", f"ops: {len(self.ops)} distinct",
                 releases.describe(self.non_core_ops),
                 "weights: " + (quantization.describe_dtypes(self.weights) or "none")]
        if self.tensorflow_text_imported:
            lines.append("WARNING: tensorflow_text is imported in this process; TF-Text ops "
                         "look core. Re-run in a fresh process.")
        for run in self.runs:
            state = "OK" if run.error is None else f"FAILED: {run.error}"
            lines.append(f"signature {run.name} ({run.source}) {run.inputs} -> {run.outputs}: "
                         f"{state}")
        lines.append("RESULT: " + ("OK" if self.ok else "PROBLEMS FOUND"))
        return "\n".join(lines)


def resolve_version_dir(path) -> pathlib.Path:
    """A version folder itself, or the latest numeric version under a base path."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").exists():
        return path
    latest = versions.latest_version_dir(path)
    if latest is None or not (latest / "saved_model.pb").exists():
        raise ValueError(f"{path} is neither a SavedModel folder nor a base path with numeric "
                         "version folders holding one.")
    return latest


def check(path) -> CheckReport:
    """Checks the SavedModel at `path` (version folder or base path); see module docstring."""
    path = resolve_version_dir(path)
    ops = sorted(graph_ops.list_ops(path))
    non_core = sorted(graph_ops.non_core_ops(ops))
    runs = []
    if not non_core:  # a graph with unknown ops would fail to load or run here too
        runs = run_signatures(path)
    return CheckReport(str(path), ops, non_core, releases.loadable_releases(non_core), runs,
                       "tensorflow_text" in sys.modules, saved_weight_dtypes(path))


def saved_weight_dtypes(path) -> Dict[str, int]:
    """dtype -> number of parameters stored in a SavedModel's variables (its dtype mix)."""
    prefix = pathlib.Path(path) / "variables" / "variables"
    if not pathlib.Path(str(prefix) + ".index").exists():
        return {}
    reader = tf.train.load_checkpoint(str(prefix))
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    return quantization.weight_dtypes(
            (name, shapes[name], dtypes[name]) for name in shapes
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH")


def run_signatures(path) -> List[SignatureRun]:
    loaded = tf.saved_model.load(str(path))
    runs = []
    for log in warmup.read_warmup_requests(path):
        name, inputs = warmup_inputs(log)
        runs.append(_run(loaded, name, inputs, "warmup"))
    for name, function in loaded.signatures.items():
        specs = function.structured_input_signature[1]
        inputs = {alias: synthesize(alias, spec) for alias, spec in specs.items()}
        runs.append(_run(loaded, name, inputs, "synthesized"))
    return runs


def warmup_inputs(log):
    """(signature name, input tensors) of a Predict or Classify PredictionLog."""
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    elif kind == "classify_log":
        request = log.classify_log.request
        examples = request.input.example_list.examples
        inputs = {"inputs": np.array([e.SerializeToString() for e in examples], dtype=object)}
    else:
        raise ValueError(f"Unsupported warmup record type {kind!r}.")
    return request.model_spec.signature_name or "serving_default", inputs


def synthesize(alias: str, spec: tf.TensorSpec) -> tf.Tensor:
    """Example input for one TensorSpec; strings carry the edge cases."""
    if spec.dtype == tf.string:
        if alias == "inputs":  # serialized tf.Examples: empty examples parse to defaults
            texts = [tf.train.Example().SerializeToString()] * len(EDGE_TEXTS)
        else:
            texts = [t.encode("utf-8") for t in EDGE_TEXTS]
        if spec.shape.rank == 2:  # pre-split words (B, W): the edge cases as two rows
            return tf.constant([texts, texts[::-1]])
        return tf.constant(texts)
    if spec.shape.rank == 1:  # a per-row parameter next to the texts: one value per text
        return tf.ones([len(EDGE_TEXTS)], spec.dtype)
    shape = [d if d is not None else 2 + 3 * i for i, d in enumerate(spec.shape.as_list())]
    return tf.ones(shape, spec.dtype)


def _run(loaded, name, inputs, source) -> SignatureRun:
    inputs = {k: tf.constant(v) for k, v in inputs.items()}
    described = {k: f"{v.dtype.name} {v.shape.as_list()}" for k, v in inputs.items()}
    if name not in loaded.signatures:
        return SignatureRun(name, described, {}, source, f"no signature named {name!r}")
    try:
        outputs = loaded.signatures[name](**inputs)
    except (tf.errors.OpError, TypeError, ValueError) as e:
        return SignatureRun(name, described, {}, source, f"{type(e).__name__}: {e}"[:500])
    shown = {k: f"{v.dtype.name} {v.shape.as_list()}" for k, v in outputs.items()}
    error = None
    for k, v in outputs.items():
        if v.dtype.is_floating and not np.all(np.isfinite(v.numpy())):
            error = f"output {k!r} holds NaN or Inf"
    return SignatureRun(name, described, shown, source, error)


def run(argv=None):
    """CLI: `keras-llm-check PATH [PATH ...]`; exit status 1 if any model has problems."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write("usage: keras-llm-check SAVED_MODEL_DIR_OR_BASE_PATH [...]\n"
                         "Lists ops, flags non-core TensorFlow ops, names the stock TF Serving "
                         "releases that can load the model, runs every signature once.\n")
        return 0 if argv else 2
    status = 0
    for path in argv:
        report = check(path)
        sys.stdout.write(report.summary() + "\n")
        status |= 0 if report.ok else 1
    return status


if __name__ == "__main__":
    sys.exit(run())
