"""LoRA (Hu et al., 2021) for keras_llm task models: low-rank adapters on the attention
projections, the backbone frozen, the task head trained.

    lora.enable_lora(model, rank=8)                  # query + value projections of every layer
    model.fit(...)                                   # trains the adapters and the head only
    lora.save_adapters(model, "adapters.npz")        # the trained part on its own (small)
    model.save_weights("model.weights.h5")           # adapters merged into the kernels

Each targeted `keras.layers.Dense` (our attention layers name their projections `query`,
`key`, `value`, `output`) gets Keras' own LoRA: kernel W frozen, W + (alpha / rank) A B
trained through A (D_in, r) and B (r, D_out), B starting at zero so the model starts as the
pretrained one. Every other backbone weight is frozen; the layers outside `model.backbone`
(the task head) stay trainable.

Serving never sees the adapters: Keras writes a LoRA layer's kernel as W + (alpha / rank) A B
(`save_weights`), so a model built without LoRA loads the merged weights and its exported graph
has the ops of a fully fine-tuned one. `merge_lora(model)` does the same in place.
"""
from typing import Dict, Iterable, List, Tuple

import keras
import numpy as np
from keras import ops

DEFAULT_TARGETS = ("query", "value")
ADAPTER_NAMES = ("lora_kernel_a", "lora_kernel_b")


def _named_dense_layers(model) -> List[Tuple[str, keras.layers.Dense]]:
    """(path, layer) for every Dense under `model`, paths unique and stable across builds."""
    found = []

    def walk(layer, path):
        for child in layer._layers:  # pylint: disable=protected-access
            name = f"{path}/{child.name}" if path else child.name
            if isinstance(child, keras.layers.Dense):
                found.append((name, child))
            walk(child, name)

    walk(model, "")
    return found


def lora_layers(model) -> List[Tuple[str, keras.layers.Dense]]:
    """(path, layer) of the Dense layers that have LoRA enabled; paths relative to the
    backbone (the same in every build of the model)."""
    root = getattr(model, "backbone", model)
    return [(p, layer) for p, layer in _named_dense_layers(root)
            if getattr(layer, "lora_enabled", False)]


def enable_lora(model, rank: int = 8, alpha: float = None,
                targets: Iterable[str] = DEFAULT_TARGETS) -> Dict[str, int]:
    """Adds rank-`rank` adapters to the backbone's Dense layers named in `targets` and freezes
    the rest of the backbone. `alpha` defaults to 2 * rank (scale 2). Returns
    {"adapted_layers", "trainable", "total"} parameter counts."""
    targets = tuple(targets)
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}.")
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ValueError(f"{type(model).__name__} has no `backbone`: enable_lora adapts a "
                         "task model's backbone and trains its head.")
    adapted = [layer for path, layer in _named_dense_layers(backbone)
               if path.rsplit("/", 1)[-1] in targets]
    if not adapted:
        names = sorted({p.rsplit("/", 1)[-1] for p, _ in _named_dense_layers(backbone)})
        raise ValueError(f"No Dense layer named {targets} in the backbone; its Dense layers "
                         f"are named {names}.")
    for variable in backbone.weights:
        variable.trainable = False
    for layer in adapted:
        layer.enable_lora(rank, lora_alpha=float(alpha if alpha is not None else 2 * rank))
    return {"adapted_layers": len(adapted), **parameter_counts(model)}


def parameter_counts(model) -> Dict[str, int]:
    """{"trainable", "total"} parameters of `model`."""
    count = lambda variables: int(sum(np.prod(v.shape) for v in variables))  # noqa: E731
    return {"trainable": count(model.trainable_weights), "total": count(model.weights)}


def _adapter_variables(model) -> Dict[str, object]:
    """name -> variable: every LoRA matrix and every trainable weight outside the backbone."""
    found = {}
    for path, layer in lora_layers(model):
        for name in ADAPTER_NAMES:
            found[f"{path}/{name}"] = getattr(layer, name)
    backbone_ids = {id(v) for v in model.backbone.weights}
    for variable in model.trainable_weights:
        if id(variable) not in backbone_ids:
            found[variable.path] = variable
    return found


def save_adapters(model, path) -> None:
    """Writes the trained part only (LoRA matrices + head weights) to an .npz file."""
    variables = _adapter_variables(model)
    if not lora_layers(model):
        raise ValueError("The model has no LoRA layers (call enable_lora first).")
    with open(path, "wb") as f:
        np.savez(f, **{name: ops.convert_to_numpy(v) for name, v in variables.items()})


def load_adapters(model, path) -> None:
    """Loads `save_adapters`' file into a model with LoRA enabled the same way (same rank and
    targets) on the same pretrained backbone."""
    variables = _adapter_variables(model)
    with np.load(path) as stored:
        missing = sorted(set(variables) - set(stored.files))
        extra = sorted(set(stored.files) - set(variables))
        if missing or extra:
            raise ValueError(f"Adapter file {path} does not match the model: missing "
                             f"{missing[:3]}, unexpected {extra[:3]} (same rank and targets?).")
        for name, variable in variables.items():
            if tuple(stored[name].shape) != tuple(variable.shape):
                raise ValueError(f"Adapter {name} has shape {stored[name].shape} in {path}, "
                                 f"the model expects {tuple(variable.shape)}.")
            variable.assign(stored[name])


def merge_lora(model) -> int:
    """Folds every adapter into its kernel (W += alpha / rank * A B) and removes it, so the
    layer computes one matmul again. Returns how many layers were merged."""
    merged = lora_layers(model)
    for _, layer in merged:
        if layer.quantization_mode is not None:
            raise ValueError("merge_lora before quantizing: the layer is already "
                             f"{layer.quantization_mode}.")
        scale = layer.lora_alpha / layer.lora_rank
        delta = ops.matmul(layer.lora_kernel_a, layer.lora_kernel_b) * scale
        layer._kernel.assign(layer._kernel + ops.cast(delta, layer._kernel.dtype))  # pylint: disable=protected-access
        for name in ADAPTER_NAMES:
            layer._untrack_variable(getattr(layer, name))  # pylint: disable=protected-access
        layer._tracker.unlock()  # pylint: disable=protected-access
        layer.lora_kernel_a = layer.lora_kernel_b = None
        layer._tracker.lock()  # pylint: disable=protected-access
        layer.lora_enabled = False
        layer._kernel.trainable = True  # pylint: disable=protected-access
    return len(merged)
