"""Post-training int8 quantization of any keras_llm model, exportable with core TF ops.

    from keras_llm.models import quantization
    quantization.quantize(model)                  # "int8": weights int8, float matmuls
    quantization.quantize(model, "int8_dynamic")  # also int8 activations: int8 x int8 matmuls
    quantization.quantize(model, "int8_int4_embeddings")  # int8, token tables int4

Built on Keras 3's int8 layers: every Dense kernel (attention projections, feed-forward,
pooler, task heads) is stored int8 with one float scale per output column; every token or
segment embedding table (`TokenEmbedding`, also when it is the tied LM head through
`reverse=True`) int8 with one scale per row. Position tables, layer norms and biases stay
float32: under 3% of a BERT's parameters.

- "int8" (weight-only): kernels are cast back to float inside the graph; outputs differ from
  float32 only by weight rounding (|error| per weight <= scale / 2).
- "int8_dynamic": each Dense input row is also quantized (abs-max per row) and the matmul
  runs int8 x int8 -> int32 (oneDNN VNNI/AMX kernels where the CPU has them); larger error.
- "int8_int4_embeddings": as "int8", but token (not segment) embedding tables hold 4-bit
  values, two per byte, one scale per row: half the size of the largest table of a small
  BERT (30k x 384 MiniLM: 11.7 MB int8, 5.9 MB int4); only looked-up rows are unpacked.

The quantized model is for inference and export (a quantized kernel gets no gradient).
`weight_dtypes` counts a model's (or a SavedModel's) parameters by dtype.
"""
import collections
from typing import Dict, Iterable

import keras

MODES = ("int8", "int8_dynamic", "int8_int4_embeddings")


def quantize(model: keras.Model, mode: str = "int8") -> int:
    """Quantizes `model`'s Dense and embedding layers in place; returns how many."""
    if mode not in MODES:
        raise ValueError(f"quantization mode must be one of {MODES}, got {mode!r}.")
    if not model.built:
        raise ValueError("Build the model (call it once or load its weights) before "
                         "quantizing it.")
    activations = keras.quantizers.AbsMaxQuantizer(axis=-1) if mode == "int8_dynamic" else None
    dense_config = keras.quantizers.Int8QuantizationConfig(
            weight_quantizer=keras.quantizers.AbsMaxQuantizer(axis=0),
            activation_quantizer=activations)
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
        if getattr(layer, "quantization_mode", None) is not None or getattr(layer, "_int4",
                                                                            False):
            continue  # already quantized
        if isinstance(layer, keras.layers.Dense):
            layer.quantize("int8", type_check=False, config=dense_config)
        elif isinstance(layer, keras.layers.Embedding):
            int4 = mode == "int8_int4_embeddings" and "segment" not in layer.name
            layer.quantize("int4" if int4 else "int8", type_check=False)
        else:
            continue
        count += 1
    if count:  # compiled functions traced the float layers
        model.train_function = model.test_function = model.predict_function = None
    return count


def weight_dtypes(variables: Iterable) -> Dict[str, int]:
    """dtype name -> number of parameters, for variables (or (name, shape, dtype) triples)."""
    counts = collections.Counter()
    for variable in variables:
        if isinstance(variable, tuple):
            _, shape, dtype = variable
        else:
            shape, dtype = variable.shape, variable.dtype
        size = 1
        for dim in shape:
            size *= int(dim)
        counts[getattr(dtype, "name", str(dtype))] += size
    return dict(counts)


def describe_dtypes(counts: Dict[str, int]) -> str:
    """'int8 21.3M (96.1%), float32 0.9M (3.9%)'."""
    total = sum(counts.values()) or 1
    return ", ".join(f"{dtype} {n / 1e6:.2f}M ({100 * n / total:.1f}%)"
                     for dtype, n in sorted(counts.items(), key=lambda kv: -kv[1]))
