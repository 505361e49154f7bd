"""Saves of format 1 (committed fixtures, made from the repository root with relative paths) load as format 2."""

import json
import shutil

import numpy as np
import pytest

from cae_sim import Pipeline
from cae_sim.persistence import MANIFEST, RelativePathsWarning, verify_save

from conftest import ROOT, TESTS

FIXTURES = TESTS / "fixtures"


@pytest.fixture(params=["v1_phash", "v1_cae"])
def v1_save(request, tmp_path, monkeypatch):
    copy = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, copy)
    monkeypatch.chdir(ROOT)  # where the fixtures were made: their relative paths are data/...
    return copy


def test_a_v1_save_loads_with_absolute_paths_and_a_warning_that_names_relocate(v1_save):
    old = json.loads((v1_save / MANIFEST).read_text())
    assert old["version"] == 1 and old["paths"][0] == "data/astronaut.jpg"
    with pytest.warns(RelativePathsWarning, match="cae-sim relocate"):
        loaded = Pipeline.load(v1_save)
    assert loaded.paths_ == [str(ROOT / path) for path in old["paths"]]
    np.testing.assert_array_equal(loaded.codes_, np.load(v1_save / "codes.npy"))
    np.testing.assert_array_equal(loaded.labels_, np.load(v1_save / "labels.npy"))
    assert loaded.encoder_.name == old["encoder"]["name"] and loaded.choices_["clustering"] == old["clustering"]["kind"]
    assert loaded.calibration_.threshold == pytest.approx(old["calibration"]["threshold"])


def test_a_v1_save_answers_as_it_did_and_saves_again_as_v2(v1_save, tmp_path):
    with pytest.warns(RelativePathsWarning):
        loaded = Pipeline.load(v1_save)
    match = loaded.query(ROOT / "data" / "coffee.jpg", n=1)[0]
    assert match.path == str(ROOT / "data" / "coffee.jpg") and match.score == pytest.approx(1.0, abs=1e-5)
    loaded.save(tmp_path / "v2")
    assert json.loads((tmp_path / "v2" / MANIFEST).read_text())["version"] == 2
    again = Pipeline.load(tmp_path / "v2")
    assert again.paths_ == loaded.paths_ and again.query(ROOT / "data" / "coffee.jpg", n=3) == loaded.query(ROOT / "data" / "coffee.jpg", n=3)
    assert type(again.index_) is type(loaded.index_)


def test_the_v1_faiss_index_is_read_back_as_the_same_kind(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.warns(RelativePathsWarning):
        loaded = Pipeline.load(FIXTURES / "v1_cae")
    assert (type(loaded.index_).__name__, loaded.index_.kind) == ("FaissIndex", "Flat")


def test_a_changed_file_of_a_v1_save_is_refused_as_v1_did(v1_save):
    with open(v1_save / "codes.npy", "r+b") as file:
        file.seek(-4, 2)
        file.write(b"\x00\x00\x80\x7f")
    with pytest.raises(ValueError, match="codes.npy does not match its sha256"):
        Pipeline.load(v1_save)
    with pytest.raises(ValueError, match="codes.npy does not match its sha256"):
        verify_save(v1_save)


def test_a_v1_save_without_labels_or_index_takes_the_clusterings_labels_and_an_exact_index(v1_save):
    manifest = json.loads((v1_save / MANIFEST).read_text())
    del manifest["files"]["labels.npy"], manifest["index"]
    (v1_save / "labels.npy").unlink()
    (v1_save / MANIFEST).write_text(json.dumps(manifest))
    with pytest.warns(RelativePathsWarning):
        loaded = Pipeline.load(v1_save)
    np.testing.assert_array_equal(loaded.labels_, np.load(v1_save / "clustering" / "labels.npy"))
    assert type(loaded.index_).__name__ == "ExactIndex" and len(loaded.index_) == len(loaded.codes_)
