"""JSON <-> arrays / tf.Example for the REST API (TF Serving's row and columnar formats).

Shapes: B batch. Row format ("instances") lists B rows; columnar ("inputs") gives each
input whole. Strings are UTF-8 text or {"b64": "..."} (DT_STRING only).
"""
import base64
import binascii
import math

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from keras_llm.serving import errors

_DT_STRING = types_pb2.DT_STRING


def _shape(value, alias):
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    shapes = {_shape(v, alias) for v in value}
    if len(shapes) != 1:
        raise errors.invalid(f"Failed to process element: {alias}: lists of different "
                             "lengths (ragged tensors are not supported)")
    return (len(value),) + shapes.pop()


def _flatten(value):
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _leaf(value, dtype, alias):
    if dtype == _DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError) as e:
                raise errors.invalid(f"Unable to base64 decode input {alias}: {e}") from e
        raise errors.invalid(f"Failed to process element: {alias}: expected a string or "
                             f'{{"b64": ...}}, got {_short(value)}')
    np_dtype = tf.dtypes.as_dtype(dtype).as_numpy_dtype
    if dtype == types_pb2.DT_BOOL:
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        pass
    elif np.issubdtype(np_dtype, np.integer):
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            info = np.iinfo(np_dtype)
            if info.min <= value <= info.max:
                return int(value)
            raise errors.invalid(f"Failed to process element: {alias}: {value} is out of "
                                 f"range for {np_dtype.__name__}")
    elif np.issubdtype(np_dtype, np.floating) and math.isfinite(float(value)):
        return float(value)
    raise errors.invalid(f"Failed to process element: {alias}: {_short(value)} is not a "
                         f"valid {tf.dtypes.as_dtype(dtype).name}")


def _short(value):
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def to_array(value, dtype, alias):
    """JSON value (nested lists) -> numpy array of the signature dtype."""
    shape = _shape(value, alias)
    leaves = [_leaf(v, dtype, alias) for v in _flatten(value)]
    if dtype == _DT_STRING:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
    else:
        array = np.array(leaves, dtype=tf.dtypes.as_dtype(dtype).as_numpy_dtype)
    return array.reshape(shape)


def parse_predict_body(body, signature):
    """Predict JSON -> (alias -> array, row_format: bool)."""
    if not isinstance(body, dict):
        raise errors.invalid("JSON Value not an object")
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        raise errors.invalid("Missing 'inputs' or 'instances' key" if not has_rows else
                             "Not both 'inputs' and 'instances' can be specified")
    if has_rows:
        return _parse_rows(body["instances"], signature), True
    return _parse_columns(body["inputs"], signature), False


def _parse_rows(instances, signature):
    if not isinstance(instances, list) or not instances:
        raise errors.invalid("'instances' must be a non-empty JSON list")
    aliases = sorted(signature.inputs)
    named = all(isinstance(r, dict) and "b64" not in r for r in instances)
    if len(aliases) != 1 and not named:
        raise errors.invalid(f"Expecting object with keys {aliases} in each of 'instances' "
                             f"(signature {signature.name!r} has {len(aliases)} inputs)")
    columns = {}
    for row in instances:
        if named:
            if set(row) != set(aliases):
                raise errors.invalid(f"Expecting keys {aliases} in every instance, got "
                                     f"{sorted(row)}")
        else:
            row = {aliases[0]: row}
        for alias, value in row.items():
            columns.setdefault(alias, []).append(value)
    return {a: to_array(v, signature.inputs[a].dtype, a) for a, v in columns.items()}


def _parse_columns(inputs, signature):
    aliases = sorted(signature.inputs)
    if isinstance(inputs, dict) and "b64" not in inputs:
        for alias in aliases:
            if alias not in inputs:
                raise errors.invalid(f"Missing named input: {alias} in 'inputs' object.")
        out = {}
        for alias, value in inputs.items():
            dtype = signature.inputs[alias].dtype if alias in signature.inputs else _DT_STRING
            out[alias] = to_array(value, dtype, alias)
        return out
    if len(aliases) != 1:
        raise errors.invalid(f"'inputs' must be an object with keys {aliases}")
    return {aliases[0]: to_array(inputs, signature.inputs[aliases[0]].dtype, aliases[0])}


def to_json(array, alias):
    """Array -> JSON-able nested lists (bytes as text, or b64 for `*_bytes`/binary)."""
    if array.dtype.kind in "OSU":
        as_b64 = alias.endswith("_bytes")
        flat = [_string_json(v, as_b64) for v in array.reshape(-1)]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(array.shape).tolist()
    return array.tolist()


def _string_json(value, as_b64):
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def predict_response(outputs, row_format):
    if not row_format:
        if len(outputs) == 1:
            (alias, value), = outputs.items()
            return {"outputs": to_json(value, alias)}
        return {"outputs": {a: to_json(v, a) for a, v in outputs.items()}}
    sizes = {v.shape[0] if v.ndim else None for v in outputs.values()}
    if len(sizes) != 1 or None in sizes:
        raise errors.invalid("Tensors in the output have different first dimensions; use "
                             "the columnar ('inputs') format")
    columns = {a: to_json(v, a) for a, v in outputs.items()}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    n = sizes.pop()
    return {"predictions": [{a: columns[a][i] for a in columns} for i in range(n)]}


def _feature(value, name):
    items = value if isinstance(value, list) else [value]
    feature = tf.train.Feature()
    if not items:
        raise errors.invalid(f"feature {name!r} is an empty list")
    if all(isinstance(v, bool) or isinstance(v, int) for v in items):
        feature.int64_list.value.extend(int(v) for v in items)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        feature.float_list.value.extend(float(v) for v in items)
    else:
        feature.bytes_list.value.extend(_leaf(v, _DT_STRING, name) for v in items)
    return feature


def to_example(obj, what="example"):
    if not isinstance(obj, dict):
        raise errors.invalid(f"each {what} must be a JSON object of features")
    example = tf.train.Example()
    for name, value in obj.items():
        example.features.feature[name].CopyFrom(_feature(value, name))
    return example


def fill_input(input_proto, body):
    """Classify/regress JSON body -> tensorflow.serving.Input."""
    if not isinstance(body, dict):
        raise errors.invalid("JSON Value not an object")
    examples = body.get("examples")
    if not isinstance(examples, list):
        raise errors.invalid("'examples' must be a JSON list")
    if "context" in body:
        target = input_proto.example_list_with_context
        target.context.CopyFrom(to_example(body["context"], "context"))
    else:
        target = input_proto.example_list
    for obj in examples:
        target.examples.add().CopyFrom(to_example(obj))
