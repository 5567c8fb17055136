"""TextTaskModule hooks with several raw inputs and postprocess context (the QA / NER shape)."""
import numpy as np
import tensorflow as tf

from keras_llm.export import module as module_lib
from keras_llm.export import warmup


class FirstWordOfContext(module_lib.TextTaskModule):
    """A model-free 'QA' module: answers with the context's first word, found via offsets."""

    TEXT_INPUTS = ("question", "context")

    def preprocess(self, texts):
        context = texts["context"]
        # character offsets of the first word, kept as context for postprocess
        first = tf.strings.split(context).to_tensor("")[:, :1]
        ends = tf.strings.length(tf.reshape(first, [-1]), unit="UTF8_CHAR")
        return {}, {"context": context, "ends": ends}

    def forward(self, model_inputs):
        return None

    def postprocess(self, outputs, context):
        starts = tf.zeros_like(context["ends"])
        answer = tf.strings.substr(context["context"], starts, context["ends"], unit="UTF8_CHAR")
        return {"answer": answer}

    def signatures(self):
        return {"serving_default": self.text_signature(),
                "from_examples": self.example_signature(lambda out: out)}


def test_several_inputs_context_and_example_signature(tmp_path):
    module = FirstWordOfContext(preprocessor=None, model=None, max_input_chars=12)
    path = module_lib.export(module, tmp_path)
    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]
    assert set(serve.structured_input_signature[1]) == {"question", "context"}
    out = serve(question=tf.constant(["who?", "q", ""]),
                context=tf.constant(["Zoë wrote it", "", "abcdefghijklmnop qr"]))
    # max_input_chars=12 cuts the third context before the tokenizer sees it
    assert [a.decode() for a in out["answer"].numpy()] == ["Zoë", "", "abcdefghijkl"]
    example = warmup.text_example({"question": "q", "context": "über alles"})
    out = loaded.signatures["from_examples"](inputs=tf.constant([example.SerializeToString()]))
    np.testing.assert_array_equal(out["answer"].numpy(), [b"\xc3\xbcber"])
    assert len(warmup.read_warmup_requests(path)) == 1  # the default warmup: text signature
