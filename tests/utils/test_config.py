"""keras_llm.utils.config: typed `key=value` overrides of frozen dataclass configs."""
import dataclasses
from typing import Optional

import pytest

from keras_llm.utils import config as config_lib
from keras_llm.utils import machine


@dataclasses.dataclass(frozen=True)
class Inner:
    num_layers: int = 2
    sizes: tuple = (1, 2)
    name: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Outer:
    learning_rate: float = 1e-3
    jit: bool = False
    inner: Inner = Inner()


def test_override_parses_by_declared_type():
    cfg = config_lib.override(Outer(), ["learning_rate=3e-4", "jit=true", "inner.num_layers=4",
                                        "inner.sizes=(8, 16)", "inner.name=bert"])
    assert cfg == Outer(3e-4, True, Inner(4, ("8", "16"), "bert"))
    assert config_lib.override(cfg, ["inner.name=none"]).inner.name is None
    assert Outer().inner.num_layers == 2  # the original is untouched (frozen copies)


@pytest.mark.parametrize("item, message", [
    ("nope=1", "Unknown config field 'nope'"),
    ("inner.depth=1", "Unknown config field 'inner.depth'"),
    ("inner.num_layers=two", "Cannot parse inner.num_layers='two'"),
    ("jit=maybe", "Cannot parse jit='maybe'"),
    ("learning_rate", "not of the form key=value"),
])
def test_bad_overrides_name_the_bad_value(item, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.override(Outer(), [item])


def test_to_dict_round_trips_nested_configs():
    assert config_lib.to_dict(Outer())["inner"] == {"num_layers": 2, "sizes": (1, 2), "name": None}


def test_machine_info_records_load_and_extra_facts():
    info = machine.machine_info(tokenizers="x.y")
    assert info["cpu_count"] >= 1 and len(info["load_average"]) == 3
    assert info["tokenizers"] == "x.y" and info["tensorflow"][0].isdigit()
