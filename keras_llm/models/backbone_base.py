"""Base class of the functional backbones: config from constructor args, input checks."""
import keras

from keras_llm.models.validation import check_inputs


class Backbone(keras.Model):
    """A functional keras.Model whose `get_config()` is its flat constructor arguments.

    Subclasses build their graph in `__init__`, call `super().__init__(inputs=...,
    outputs=...)`, then store their arguments; `_config_keys` lists them.
    """

    _config_keys = ()

    def __call__(self, inputs, *args, **kwargs):
        check_inputs(type(self).__name__, inputs, list(self.input.keys())
                     if isinstance(self.input, dict) else [])
        return super().__call__(inputs, *args, **kwargs)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config.update({key: getattr(self, key) for key in self._config_keys})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def save_to_preset(self, preset_dir, tokenizer_files=()):
        """Config, weights and tokenizer files into `preset_dir` (see models/preset.py)."""
        from keras_llm.models import preset  # pylint: disable=import-outside-toplevel
        return preset.save_to_preset(self, preset_dir, tokenizer_files)

    @classmethod
    def from_preset(cls, preset_dir, **overrides):
        """The backbone saved by `save_to_preset`; `overrides` replace config values."""
        from keras_llm.models import preset  # pylint: disable=import-outside-toplevel
        return preset.load_from_preset(cls, preset_dir, **overrides)
