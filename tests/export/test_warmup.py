import numpy as np
import pytest

from keras_llm.export import warmup


def test_warmup_round_trip(tmp_path):
    logs = [warmup.predict_log("serving_default", {"text": np.array([b"a", b""])}),
            warmup.classify_log("classify", [warmup.text_example({"text": "ü 😀"})])]
    path = warmup.write_warmup_requests(str(tmp_path), logs)
    assert path.endswith("assets.extra/tf_serving_warmup_requests")
    read = warmup.read_warmup_requests(str(tmp_path))
    assert read == logs
    example = read[1].classify_log.request.input.example_list.examples[0]
    assert example.features.feature["text"].bytes_list.value == ["ü 😀".encode()]


def test_warmup_limits(tmp_path):
    with pytest.raises(ValueError, match="No warmup"):
        warmup.write_warmup_requests(str(tmp_path), [])
    log = warmup.predict_log("serving_default", {"text": np.array([b"a"])})
    with pytest.raises(ValueError, match="at most 1000"):
        warmup.write_warmup_requests(str(tmp_path), [log] * 1001)
    assert warmup.read_warmup_requests(str(tmp_path / "none")) == []
