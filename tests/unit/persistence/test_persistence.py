"""Saves (format 2): round trips, the files table and its checks, closed-box names, verify, relocate, paths."""

import json
import os
import shutil
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cae_sim import Pipeline
from cae_sim.persistence import MANIFEST, VERSION, relocate_save, verify_save
from cae_sim.persistence import manifest as manifest_module


@pytest.fixture()
def saved(fitted, tmp_path):
    directory = tmp_path / "model"
    fitted.save(directory)
    return directory


def edit_manifest(directory, edit) -> None:
    manifest = json.loads((directory / MANIFEST).read_text())
    edit(manifest)
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_round_trip_keeps_codes_labels_paths_and_queries(fitted, saved, data_dir):
    loaded = Pipeline.load(saved)
    np.testing.assert_array_equal(loaded.codes_, fitted.codes_)
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
    np.testing.assert_array_equal(loaded.cluster_centers_, fitted.cluster_centers_)
    assert loaded.paths_ == fitted.paths_ and loaded.skipped_ == fitted.skipped_
    assert loaded.get_params() == fitted.get_params() and loaded.choices_ == fitted.choices_
    assert loaded.calibration_ == fitted.calibration_
    query = data_dir / "coffee.jpg"
    assert loaded.query(query, n=5) == fitted.query(query, n=5)
    np.testing.assert_array_equal(loaded.transform(data_dir), fitted.transform(data_dir))
    np.testing.assert_array_equal(loaded.predict(data_dir), fitted.predict(data_dir))


def test_manifest_records_version_sizes_hashes_and_headers_and_no_pickle(saved):
    manifest = json.loads((saved / MANIFEST).read_text())
    assert manifest["format"] == "cae_sim.pipeline" and manifest["version"] == VERSION == 2
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(manifest["files"]) == files and "paths.json" in files
    for name, entry in manifest["files"].items():
        assert entry["size"] == (saved / name).stat().st_size and len(entry["sha256"]) == 64
    codes = np.load(saved / "codes.npy")
    assert manifest["files"]["codes.npy"]["shape"] == list(codes.shape) and manifest["files"]["codes.npy"]["dtype"] == "<f4"
    assert manifest["model"]["encoder"]["name"] == "cae" and manifest["collection"]["index"]["name"] == "exact"
    assert any(name.endswith(".keras") for name in files)
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in files)


def test_paths_are_stored_absolute(saved, fitted):
    paths = json.loads((saved / "paths.json").read_text())
    assert paths == fitted.paths_ and all(os.path.isabs(path) and os.path.isfile(path) for path in paths)


def flip_last_float(path) -> None:
    with open(path, "r+b") as file:
        file.seek(-4, os.SEEK_END)
        file.write(b"\x00\x00\x80\x7f")


def test_a_changed_small_file_is_refused_on_load(saved):
    flip_last_float(saved / "codes.npy")
    with pytest.raises(ValueError, match="codes.npy does not match its sha256"):
        Pipeline.load(saved)


def test_a_changed_large_array_is_found_by_verify_not_by_load(saved, monkeypatch):
    monkeypatch.setattr(manifest_module, "SMALL_FILE_BYTES", 0)  # every file counts as large
    loaded = Pipeline.load(saved)
    assert loaded.verify() == len(json.loads((saved / MANIFEST).read_text())["files"])
    flip_last_float(saved / "codes.npy")
    Pipeline.load(saved)  # same size and header: loading does not read it
    with pytest.raises(ValueError, match="codes.npy does not match its sha256"):
        loaded.verify()
    with pytest.raises(ValueError, match="codes.npy does not match its sha256"):
        verify_save(saved)


def test_a_large_array_of_another_size_or_header_is_refused_on_load(saved, monkeypatch):
    monkeypatch.setattr(manifest_module, "SMALL_FILE_BYTES", 0)
    codes = np.load(saved / "codes.npy")
    np.save(saved / "codes.npy", codes[:-1])
    with pytest.raises(ValueError, match="codes.npy has .* bytes, its manifest says"):
        Pipeline.load(saved)
    np.save(saved / "codes.npy", codes.reshape(codes.shape[1], codes.shape[0]))
    with pytest.raises(ValueError, match=r"codes.npy holds <f4 \(.*\), its manifest says <f4"):
        Pipeline.load(saved)


def test_loading_reads_the_encoder_and_the_index_only_when_used(saved, data_dir, monkeypatch):
    from cae_sim.encoders import ConvAutoencoder
    from cae_sim.index import ExactIndex

    calls = []
    for cls, name in ((ConvAutoencoder, "load"), (ExactIndex, "fit")):
        original = getattr(cls, name)
        monkeypatch.setattr(cls, name, lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k))
    loaded = Pipeline.load(saved)
    assert calls == []
    loaded.duplicates()
    assert calls == ["fit"]
    loaded.query(data_dir / "coffee.jpg", n=2)
    assert calls == ["fit", "load"]


def test_a_pipeline_not_loaded_from_a_save_has_nothing_to_verify(fitted):
    with pytest.raises(ValueError, match="not loaded from a save"):
        fitted.verify()


def test_a_missing_file_is_refused(saved):
    (saved / "clustering" / "labels.npy").unlink()
    with pytest.raises(ValueError, match="clustering/labels.npy is missing"):
        Pipeline.load(saved)


@pytest.mark.parametrize("name", ["../outside.npy", "/etc/hostname", "index/../../outside.npy", "./codes.npy", ""])
def test_a_file_named_outside_the_save_is_refused(saved, name):
    (saved.parent / "outside.npy").write_bytes(b"x")
    edit_manifest(saved, lambda m: m["files"].update({name: {"size": 1, "sha256": "0" * 64}}))
    with pytest.raises(ValueError, match="names a file outside the save"):
        Pipeline.load(saved)


def test_a_file_that_is_a_link_is_refused(saved):
    target = saved.parent / "elsewhere.npy"
    shutil.move(saved / "labels.npy", target)
    (saved / "labels.npy").symlink_to(target)
    with pytest.raises(ValueError, match="labels.npy is not a regular file"):
        Pipeline.load(saved)


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("{not json", "manifest.json cannot be read"),
        ('{"format": "something.else"}', "not a cae_sim save"),
        ('{"format": "cae_sim.pipeline", "version": 99}', "version 99"),
        ('{"format": "cae_sim.pipeline", "version": 2}', "manifest lacks or mangles its 'params' field"),
        ('{"format": "cae_sim.pipeline", "version": 1}', "format-1 manifest lacks or mangles 'files'"),
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
    assert sorted(p.name for p in saved.parent.iterdir()) == [".model.lock", "model"]  # the writer lock stays
    Pipeline.load(saved)


def test_saving_again_replaces_the_save(fitted, saved):
    (saved / "stale.txt").write_text("from before")
    fitted.save(saved)
    assert not (saved / "stale.txt").exists()
    assert sorted(p.name for p in saved.parent.iterdir()) == [".model.lock", "model"]  # the writer lock stays


def test_saving_an_unfitted_pipeline_fails(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Pipeline().save(tmp_path / "x")


def test_a_save_gets_the_users_usual_permissions(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    reference = tmp_path / "made_by_mkdir"
    reference.mkdir()  # what the umask gives a new directory
    assert (tmp_path / "m").stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


FIELDS = [("params",), ("model",), ("model", "encoder"), ("model", "encoder", "name"), ("model", "encoder", "config"),
          ("model", "encoder_choice"), ("model", "choices"), ("model", "clustering"), ("model", "clustering", "name"),
          ("model", "clustering", "config"), ("model", "clustering", "scores"), ("collection",),
          ("collection", "size"), ("collection", "labels"), ("collection", "paths"), ("collection", "index"),
          ("collection", "index", "name"), ("collection", "index", "config"), ("collection", "skipped"),
          ("collection", "calibration"), ("files",)]
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@pytest.fixture(scope="module")
def pristine(fitted, tmp_path_factory):
    directory = tmp_path_factory.mktemp("pristine") / "model"
    fitted.save(directory)
    return directory


def mangle(directory, field: tuple, value) -> None:
    def set_field(manifest):
        parent = manifest
        for key in field[:-1]:
            parent = parent[key]
        parent[field[-1]] = value

    edit_manifest(directory, set_field)


def assert_names_the_damage(error: ValueError, directory) -> None:
    assert str(error).startswith(f"damaged save {str(directory)!r}: "), error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES)
@example(field=("collection", "paths"), value=None).via("each kind of value that loads, every run")
@example(field=("collection", "calibration"), value=None).via("each kind of value that loads, every run")
@example(field=("params",), value={}).via("each kind of value that loads, every run")
@example(field=("model", "encoder_choice"), value="x").via("each kind of value that loads, every run")
def test_a_mangled_manifest_field_is_refused_as_a_damaged_save_or_changes_no_answer(pristine, fitted, data_dir, tmp_path,
                                                                                     field, value):
    copy = tmp_path / f"copy-{uuid.uuid4().hex[:8]}"
    shutil.copytree(pristine, copy)
    mangle(copy, field, value)
    query = data_dir / "coffee.jpg"
    try:
        loaded = Pipeline.load(copy)
        answers = loaded.duplicates(), loaded.query(query, n=2)
    except ValueError as error:  # any other exception fails the test
        assert_names_the_damage(error, copy)
        return
    # what still loads is a value the format allows (a default: {} parameters or index config; an optional part: no
    # calibration, no paths; a free text: encoder_choice): the codes, clusters and answers are the saved ones
    np.testing.assert_array_equal(loaded.codes_, fitted.codes_)
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
    if field == ("collection", "paths"):  # None: a collection of arrays, whose matches have no path
        assert value is None and loaded.paths_ is None and answers[0] == fitted.duplicates()
        assert [(m.index, m.path, m.score) for m in answers[1]] == [(m.index, None, m.score) for m in fitted.query(query, n=2)]
    else:
        assert answers == (fitted.duplicates(), fitted.query(query, n=2))


@pytest.mark.parametrize("field", FIELDS, ids=".".join)
def test_a_number_in_place_of_any_manifest_field_is_a_damaged_save_that_names_it(pristine, tmp_path, field):
    copy = tmp_path / "copy"
    shutil.copytree(pristine, copy)
    mangle(copy, field, 7)
    with pytest.raises(ValueError) as raised:
        Pipeline.load(copy).query(np.zeros((16, 16, 3), np.uint8), n=2)
    assert_names_the_damage(raised.value, copy)
    dotted = ".".join(field)
    if field == ("collection", "size"):
        assert str(raised.value).endswith("codes, labels and paths disagree in length")
    else:  # the field itself, the part it belongs to, or the first field inside it
        named = str(raised.value).split("manifest lacks or mangles its '")[1].split("' field")[0]
        assert named == dotted or dotted.startswith(named + ".") or named.startswith(dotted + "."), raised.value


def test_paths_that_are_a_number_name_the_field(saved):
    edit_manifest(saved, lambda m: m["collection"].update(paths=42))
    with pytest.raises(ValueError, match="'collection.paths' field"):
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


def test_an_encoder_naming_no_registered_encoder_is_refused(saved):
    edit_manifest(saved, lambda m: m["model"]["encoder"].update(name="no-such-encoder"))
    with pytest.raises(ValueError, match="no-such-encoder"):
        Pipeline.load(saved)


@pytest.mark.parametrize("params", [{"": 0}, {"metric": "manhattan"}, {"index": "annoy"}])
def test_saved_parameters_that_do_not_fit_the_pipeline_are_a_damaged_save(saved, params):
    edit_manifest(saved, lambda m: m["params"].update(params))
    with pytest.raises(ValueError, match="its parameters do not fit Pipeline"):
        Pipeline.load(saved)


# ---------------------------------------------------------------- paths that travel


@pytest.fixture()
def relative_save(tmp_path, data_dir, monkeypatch):
    """A save made as the README's quick start makes one: from a relative folder."""
    work = tmp_path / "work"
    shutil.copytree(data_dir, work / "photos")
    monkeypatch.chdir(work)
    Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit("photos").save("model")
    monkeypatch.chdir(tmp_path)  # anywhere else
    return work


def test_a_save_made_from_a_relative_folder_answers_from_any_other_folder(relative_save):
    loaded = Pipeline.load(relative_save / "model")
    assert all(os.path.isfile(path) for path in loaded.paths_)
    matches = loaded.query(relative_save / "photos" / "coffee.jpg", n=1)
    assert matches[0].path == str(relative_save / "photos" / "coffee.jpg") and matches[0].score == pytest.approx(1.0)


def test_adding_the_same_files_by_absolute_path_adds_nothing(relative_save):
    loaded = Pipeline.load(relative_save / "model")
    added = loaded.add(relative_save / "photos")
    assert len(added.positions) == 0 and len(added.known) == len(loaded.paths_) == 12


def test_relocate_points_a_moved_collection_at_its_new_folder(relative_save, data_dir):
    moved = relative_save.parent / "moved"
    shutil.move(relative_save / "photos", moved)
    model = relative_save / "model"
    assert relocate_save(model, relative_save / "photos", moved) == 12
    loaded = Pipeline.load(model)
    assert loaded.paths_ == sorted(str(moved / p.name) for p in data_dir.glob("*.jpg"))
    assert loaded.query(moved / "brick.jpg", n=1)[0].path == str(moved / "brick.jpg")
    assert loaded.verify() == len(json.loads((model / MANIFEST).read_text())["files"])
    assert relocate_save(model, relative_save / "photos", moved) == 0  # nothing lies there any more


def test_relocate_moves_only_paths_inside_the_old_folder(tmp_path):
    paths = [str(tmp_path / "a" / "x.jpg"), str(tmp_path / "ab" / "y.jpg"), str(tmp_path / "a")]
    from cae_sim.persistence.pipelines import _moved

    moved = [_moved(path, str(tmp_path / "a"), str(tmp_path / "b")) for path in paths]
    assert moved == [str(tmp_path / "b" / "x.jpg"), str(tmp_path / "ab" / "y.jpg"), str(tmp_path / "b")]


def test_relocate_refuses_a_save_of_an_array(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(images).save(tmp_path / "m")
    with pytest.raises(ValueError, match="has no paths to relocate"):
        relocate_save(tmp_path / "m", "/old", "/new")
