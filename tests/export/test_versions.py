import os

import pytest

from keras_llm.export import versions


def _writer(content):
    def write(directory):
        with open(os.path.join(directory, "saved_model.pb"), "w") as f:
            f.write(content)
    return write


def test_versions_increment_and_land_complete(tmp_path):
    assert versions.next_version(tmp_path / "missing") == 1
    first = versions.write_version(tmp_path, _writer("a"))
    second = versions.write_version(tmp_path, _writer("b"))
    assert (first.name, second.name) == ("1", "2")
    assert (second / "saved_model.pb").read_text() == "b"
    assert versions.list_versions(tmp_path) == [1, 2]
    assert versions.latest_version_dir(tmp_path) == second
    assert sorted(os.listdir(tmp_path)) == ["1", "2"]  # no temp folders left behind
    assert os.stat(second).st_mode & 0o055 == 0o055 & ~_umask()  # group/other may read


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_failed_write_leaves_no_version_and_no_temp(tmp_path):
    def broken(directory):
        _writer("half")(directory)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        versions.write_version(tmp_path, broken, version=7)
    assert os.listdir(tmp_path) == []


def test_write_happens_in_hidden_sibling_then_renames(tmp_path):
    seen = []
    versions.write_version(tmp_path, lambda d: seen.append(d), version=3)
    parent, name = os.path.split(seen[0])
    assert parent == str(tmp_path) and name.startswith(".tmp-3-")
    assert not name.isdigit()  # TF Serving ignores non-numeric folders


def test_existing_version_needs_overwrite(tmp_path):
    versions.write_version(tmp_path, _writer("old"), version=5)
    with pytest.raises(ValueError, match="already exists"):
        versions.write_version(tmp_path, _writer("new"), version=5)
    path = versions.write_version(tmp_path, _writer("new"), version=5, overwrite=True)
    assert (path / "saved_model.pb").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["5"]


@pytest.mark.parametrize("bad", [0, -1, "2", 1.5, True])
def test_bad_version_is_rejected(tmp_path, bad):
    with pytest.raises(ValueError, match="positive int"):
        versions.write_version(tmp_path, _writer("x"), version=bad)
