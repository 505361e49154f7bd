import json
import os
import shutil
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cae_sim import Pipeline
from cae_sim.store import MANIFEST


@pytest.fixture()
def saved(fitted, tmp_path):
    directory = tmp_path / "model"
    fitted.save(directory)
    return directory


def test_round_trip_keeps_codes_labels_paths_and_queries(fitted, saved, data_dir):
    loaded = Pipeline.load(saved)
    np.testing.assert_array_equal(loaded.codes_, fitted.codes_)
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
    np.testing.assert_array_equal(loaded.cluster_centers_, fitted.cluster_centers_)
    assert loaded.paths_ == fitted.paths_ and loaded.skipped_ == fitted.skipped_
    assert loaded.get_params() == fitted.get_params()
    query = data_dir / "coffee.jpg"
    assert loaded.query(query, n=5) == fitted.query(query, n=5)
    np.testing.assert_array_equal(loaded.transform(data_dir), fitted.transform(data_dir))
    np.testing.assert_array_equal(loaded.predict(data_dir), fitted.predict(data_dir))


def test_manifest_records_version_and_hashes_and_no_pickle(saved):
    manifest = json.loads((saved / MANIFEST).read_text())
    assert manifest["format"] == "cae_sim.pipeline" and manifest["version"] == 1
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(manifest["files"]) == files
    assert any(name.endswith(".keras") for name in files)
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in files)


def test_a_changed_file_is_refused(saved):
    with open(saved / "codes.npy", "r+b") as file:
        file.seek(-4, os.SEEK_END)
        file.write(b"\x00\x00\x80\x7f")
    with pytest.raises(ValueError, match="codes.npy does not match its sha256"):
        Pipeline.load(saved)


def test_a_missing_file_is_refused(saved):
    (saved / "clustering" / "labels.npy").unlink()
    with pytest.raises(ValueError, match="clustering/labels.npy is missing"):
        Pipeline.load(saved)


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("{not json", "manifest.json cannot be read"),
        ('{"format": "something.else"}', "not a cae_sim save"),
        ('{"format": "cae_sim.pipeline", "version": 99}', "version 99"),
        ('{"format": "cae_sim.pipeline", "version": 1}', "manifest lacks or mangles its 'params' field"),
    ],
)
def test_a_foreign_or_damaged_manifest_is_refused(saved, manifest, message):
    (saved / MANIFEST).write_text(manifest)
    with pytest.raises(ValueError, match=message):
        Pipeline.load(saved)


def test_loading_a_plain_folder_or_nothing(tmp_path, data_dir):
    with pytest.raises(ValueError, match="no manifest.json"):
        Pipeline.load(data_dir)
    with pytest.raises(OSError, match="nowhere"):
        Pipeline.load(tmp_path / "nowhere")


def test_a_folder_that_is_not_a_save_is_never_overwritten(fitted, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a cae_sim save"):
        fitted.save(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_a_failed_save_leaves_the_good_one_intact(fitted, saved, monkeypatch):
    before = {p: p.read_bytes() for p in saved.rglob("*") if p.is_file()}

    def crash(directory):
        raise OSError("disk full")

    monkeypatch.setattr(fitted.encoder_, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(saved)
    assert {p: p.read_bytes() for p in saved.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model"]
    Pipeline.load(saved)


def test_saving_again_replaces_the_save(fitted, saved):
    (saved / "stale.txt").write_text("from before")
    fitted.save(saved)
    assert not (saved / "stale.txt").exists()
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model"]


def test_saving_an_unfitted_pipeline_fails(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Pipeline().save(tmp_path / "x")


def test_a_save_gets_the_users_usual_permissions(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    reference = tmp_path / "made_by_mkdir"
    reference.mkdir()  # what the umask gives a new directory
    assert (tmp_path / "m").stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


FIELDS = [("params",), ("encoder",), ("encoder", "name"), ("encoder", "params"), ("encoder", "choice"), ("clustering",),
          ("clustering", "kind"), ("clustering", "params"), ("clustering", "scores"), ("paths",), ("skipped",), ("files",)]
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@pytest.fixture(scope="module")
def pristine(fitted, tmp_path_factory):
    directory = tmp_path_factory.mktemp("pristine") / "model"
    fitted.save(directory)
    return directory


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_a_mangled_manifest_field_gives_a_value_error_or_loads_never_a_traceback(pristine, tmp_path, field, value):
    copy = tmp_path / f"copy-{uuid.uuid4().hex[:8]}"
    shutil.copytree(pristine, copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    parent = manifest
    for key in field[:-1]:
        parent = parent[key]
    parent[field[-1]] = value
    (copy / MANIFEST).write_text(json.dumps(manifest))
    try:
        Pipeline.load(copy)
    except ValueError:
        pass  # named the damage; any other exception fails the test


def test_paths_that_are_a_number_name_the_field(saved):
    manifest = json.loads((saved / MANIFEST).read_text())
    manifest["paths"] = 42
    (saved / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="'paths' field"):
        Pipeline.load(saved)


def as_json(params: dict) -> dict:
    """Parameters as they come back from JSON (tuples become lists)."""
    return json.loads(json.dumps(params))


@pytest.mark.slow
def test_an_encoder_given_as_an_object_reloads_as_that_object_with_its_parameters(data_dir, tmp_path):
    from cae_sim import ConvAutoencoder, Ensemble, PHash

    given = ConvAutoencoder(image_size=16, code_size=5, filters=(4,), epochs=1, random_state=3)
    for encoder in (given, [PHash(hash_size=4), given]):
        fitted = Pipeline(encoder=encoder, n_clusters=2, random_state=0).fit(data_dir)
        fitted.save(tmp_path / "model")
        loaded = Pipeline.load(tmp_path / "model")
        if isinstance(encoder, list):
            assert isinstance(loaded.encoder_, Ensemble)
            assert [type(member) for member in loaded.encoder] == [PHash, ConvAutoencoder]
            assert [member.get_params() for member in loaded.encoder] == [as_json(member.get_params()) for member in encoder]
        else:
            assert type(loaded.encoder) is ConvAutoencoder and loaded.encoder.get_params() == as_json(given.get_params())
        np.testing.assert_array_equal(loaded.transform(data_dir), fitted.transform(data_dir))


def test_an_encoder_parameter_naming_no_encoder_is_refused(saved):
    manifest = json.loads((saved / MANIFEST).read_text())
    manifest["params"]["encoder"] = {"__encoder__": "no-such-encoder", "params": {}}
    (saved / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="names no registered encoder: 'no-such-encoder'"):
        Pipeline.load(saved)


@pytest.mark.parametrize("params", [{"": 0}, {"metric": "manhattan"}, {"index": "annoy"}])
def test_saved_parameters_that_do_not_fit_the_pipeline_are_a_damaged_save(saved, params):
    manifest = json.loads((saved / MANIFEST).read_text())
    manifest["params"].update(params)
    (saved / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="its parameters do not fit Pipeline"):
        Pipeline.load(saved)
