"""Base class of the task models (a backbone plus a head), serializable with the backbone."""
import keras

from keras_llm.models.validation import check_inputs


class Task(keras.Model):
    """Functional keras.Model wrapping `self.backbone`; `_config_keys` are the head args."""

    _config_keys = ()

    def __call__(self, inputs, *args, **kwargs):
        keys = list(self.input.keys()) if isinstance(self.input, dict) else []
        check_inputs(type(self).__name__, inputs, keys)
        return super().__call__(inputs, *args, **kwargs)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable,
                  "backbone": keras.saving.serialize_keras_object(self.backbone)}
        config.update({key: getattr(self, key) for key in self._config_keys})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
