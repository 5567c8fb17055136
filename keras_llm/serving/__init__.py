"""keras_llm.serving: a TF Serving compatible server (keras-llm-serve) and its Client.

`Client` and `ServingError` are imported lazily so `keras-llm-serve --help` stays quick.
"""


def __getattr__(name):
    if name == "Client":
        from keras_llm.serving.client import Client
        return Client
    if name == "ServingError":
        from keras_llm.serving.errors import ServingError
        return ServingError
    raise AttributeError(name)
