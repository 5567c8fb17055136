from keras_llm.export import releases

ALL = ["2.11.0", "2.12.0-2.19.1", "2.20.0"]


def test_core_only_loads_everywhere():
    assert releases.loadable_releases([]) == ALL
    assert "every stock TF Serving release" in releases.describe([])


def test_round_robin_trim_needs_2_20():
    # KerasHub's MultiSegmentPacker op; TF Serving <= 2.19 bundles TF-Text 2.12.1 (serving#2267).
    assert releases.loadable_releases(["TFText>RoundRobinTrim"]) == ["2.20.0"]
    ops = ["FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"]
    assert releases.loadable_releases(ops) == ALL


def test_unknown_custom_op_loads_nowhere():
    assert releases.loadable_releases(["MyCustomKernel"]) == []
    text = releases.describe(["MyCustomKernel"])
    assert "no stock TF Serving release" in text and "MyCustomKernel" in text


def test_new_tftext_kernels_need_the_newest_release():
    assert releases.loadable_releases(["TFText>SomethingNew"]) == ["2.20.0"]
    assert releases.loadable_releases(["TFText>WhitespaceTokenizeWithOffsetsV2"]) == ALL
