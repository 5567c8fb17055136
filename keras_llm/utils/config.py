"""One config system: frozen dataclasses, chosen by name, overridden by `key=value` strings.

    @dataclasses.dataclass(frozen=True)
    class TrainConfig:
        learning_rate: float = 1e-3
        model: ModelConfig = ModelConfig()

    config = override(TrainConfig(), ["learning_rate=3e-4", "model.num_layers=4"])

Values are parsed by the field's declared type (int, float, bool, str, tuple, Optional[...]).
"""
import dataclasses
import json
import typing
from typing import Any, Iterable, List


class ConfigError(ValueError):
    """A config override names an unknown field or carries a value of the wrong type."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(raw: str, field_type: Any, key: str) -> Any:
    origin = typing.get_origin(field_type)
    args = typing.get_args(field_type)
    if origin is typing.Union and type(None) in args:
        if raw.lower() in ("none", "null", ""):
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _parse(raw, inner, key)
    try:
        if field_type is bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ValueError(raw)
        if field_type in (int, float, str):
            return field_type(raw)
        if origin is tuple or field_type is tuple:
            items = [s for s in raw.strip("()[]").split(",") if s.strip()]
            item_type = args[0] if args else str
            return tuple(_parse(s.strip(), item_type, key) for s in items)
        return json.loads(raw)
    except (ValueError, json.JSONDecodeError) as e:
        raise ConfigError(f"Cannot parse {key}={raw!r} as {field_type}.") from e


def override(config: Any, overrides: Iterable[str]) -> Any:
    """Returns a copy of `config` with `a.b.c=value` overrides applied."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override {item!r} is not of the form key=value.")
        key, raw = item.split("=", 1)
        config = _set(config, key.strip().split("."), raw.strip(), key.strip())
    return config


def _set(config: Any, path: list, raw: str, full_key: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(config)}
    name = path[0]
    if name not in fields:
        raise ConfigError(
                f"Unknown config field {full_key!r}; {type(config).__name__} has: "
                f"{', '.join(sorted(fields))}.")
    if len(path) > 1:
        value = _set(getattr(config, name), path[1:], raw, full_key)
    else:
        hints = typing.get_type_hints(type(config))
        value = _parse(raw, hints[name], full_key)
    return dataclasses.replace(config, **{name: value})


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def describe_fields(config: Any, prefix: str = "") -> List[str]:
    """One `key = default  (type)` line per leaf field of a dataclass instance, dotted keys."""
    lines = []
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            lines.extend(describe_fields(value, f"{key}."))
        else:
            lines.append(f"{key} = {value!r}  ({_type_name(hints[field.name])})")
    return lines


def _type_name(field_type: Any) -> str:
    if isinstance(field_type, type):
        return field_type.__name__
    return str(field_type).replace("typing.", "")


def from_dict(cls: Any, values: dict) -> Any:
    """The dataclass `cls` from `to_dict`'s output (nested dataclasses, tuples restored)."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} fields {unknown}; it has {sorted(known)}.")
    kwargs = {}
    for name, value in values.items():
        field_type = hints[name]
        if dataclasses.is_dataclass(field_type) and isinstance(value, dict):
            value = from_dict(field_type, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
