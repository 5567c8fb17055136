"""Input checks shared by the models: clear ValueErrors instead of deep TF traces."""


def check_inputs(model_name, inputs, keys, rank=2):
    """Checks `inputs` is a dict holding every key in `keys`, each of static rank `rank`."""
    if not isinstance(inputs, dict):
        raise ValueError(f"{model_name} expects a dict with keys {sorted(keys)}, got "
                         f"{type(inputs).__name__}.")
    missing = [k for k in keys if k not in inputs]
    if missing:
        raise ValueError(f"{model_name}: missing input key(s) {missing}; expected keys "
                         f"{sorted(keys)}, got {sorted(inputs)}.")
    for key in keys:
        actual = static_rank(inputs[key])
        if actual is not None and actual != rank:
            raise ValueError(f"{model_name}: input {key!r} must have rank {rank} (batch, "
                             f"length), got shape {tuple(inputs[key].shape)}.")


def static_rank(value):
    """Rank of a tensor/array/list if statically known, else None."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return len(shape)
    except (TypeError, ValueError):  # unknown-rank tf.TensorShape
        return None


def check_heads(hidden_dim, num_heads):
    """Multi-head attention splits the width evenly: hidden_dim must divide by num_heads."""
    if hidden_dim % num_heads:
        raise ValueError(f"hidden_dim={hidden_dim} is not divisible by "
                         f"num_heads={num_heads}.")
