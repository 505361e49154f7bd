"""The add and remove commands, and train --sample: a saved collection changed in place."""

import csv
import shutil

import numpy as np
import pytest

from cae_sim import Pipeline
from cae_sim.__main__ import main
from conftest import InProcessClient


@pytest.fixture()
def halves(tmp_path, data_dir):
    """A save of half of data/'s photos (dhash: quick), and a folder with the other half."""
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir(), later.mkdir()
    for i, photo in enumerate(sorted(data_dir.glob("*.jpg"))):
        shutil.copy(photo, first if i % 2 else later)
    model = tmp_path / "model"
    assert main(["train", str(first), "--out", str(model), "--encoder", "dhash", "--clusters", "2", "--quiet"]) == 0
    return model, first, later


def clusters_csv(model):
    with open(model / "clusters.csv", newline="", encoding="utf-8") as file:
        return [row["path"] for row in csv.DictReader(file)]


def test_add_puts_the_new_images_in_the_save_and_its_clusters_csv(halves, capsys):
    model, first, later = halves
    capsys.readouterr()
    assert main(["add", str(model), str(later), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "added:         6" in out and "images now:    12" in out
    loaded = Pipeline.load(model)
    new = sorted(str(p) for p in later.glob("*.jpg"))
    assert loaded.paths_[6:] == new and clusters_csv(model) == loaded.paths_
    np.testing.assert_array_equal(loaded.codes_[6:], loaded.transform(new))


def test_adding_the_same_folder_again_changes_nothing(halves, capsys):
    model, first, _ = halves
    before = (model / "manifest.json").read_bytes()
    assert main(["add", str(model), str(first), "--quiet"]) == 0
    assert "added:         0\nalready there: 6" in capsys.readouterr().out
    assert (model / "manifest.json").read_bytes() == before


def test_remove_takes_images_out_of_the_save(halves, capsys):
    model, first, _ = halves
    gone = sorted(str(p) for p in first.glob("*.jpg"))[:2]
    assert main(["remove", str(model), *gone]) == 0
    assert "removed:       2" in capsys.readouterr().out
    loaded = Pipeline.load(model)
    assert len(loaded.codes_) == 4 and not set(gone) & set(loaded.paths_) and clusters_csv(model) == loaded.paths_


def test_add_and_remove_check_their_paths_before_loading_anything(halves, tmp_path, capsys):
    model, _, later = halves
    before = (model / "manifest.json").read_bytes()
    assert main(["add", str(model), str(later), str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"error: no such file or folder: {str(tmp_path / 'nowhere')!r}\n"
    assert main(["remove", str(tmp_path / "nowhere"), "a.jpg"]) == 2
    assert capsys.readouterr().err == f"error: no such folder: {str(tmp_path / 'nowhere')!r}\n"
    assert (model / "manifest.json").read_bytes() == before


def test_removing_an_unknown_file_fails_and_leaves_the_save_as_it_was(halves, capsys):
    model, _, _ = halves
    before = (model / "manifest.json").read_bytes()
    assert main(["remove", str(model), "elsewhere.jpg"]) == 2
    assert "error: not in the collection: elsewhere.jpg" in capsys.readouterr().err
    assert (model / "manifest.json").read_bytes() == before


def test_a_failed_save_while_adding_leaves_the_old_save_intact(halves, monkeypatch, capsys):
    model, _, later = halves
    before, paths = (model / "manifest.json").read_bytes(), Pipeline.load(model).paths_

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("cae_sim.persistence.pipelines.swap_into_place", crash)
    assert main(["add", str(model), str(later), "--quiet"]) == 2
    assert "error: disk full" in capsys.readouterr().err
    assert (model / "manifest.json").read_bytes() == before
    assert Pipeline.load(model).paths_ == paths
    assert [p.name for p in model.parent.iterdir() if ".partial-" in p.name] == []


def test_add_takes_several_files_and_folders_and_adds_each_image_once(halves, capsys):
    model, first, later = halves
    new = sorted(str(p) for p in later.glob("*.jpg"))
    known = sorted(str(p) for p in first.glob("*.jpg"))[0]
    capsys.readouterr()
    assert main(["add", str(model), new[1], new[0], str(later), known, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "added:         6\nalready there: 3\nskipped:       0\nimages now:    12" in out  # new[0], new[1] and known
    loaded = Pipeline.load(model)
    assert loaded.paths_[6:] == [new[1], new[0], *new[2:]] and clusters_csv(model) == loaded.paths_


def test_train_on_a_sample_fits_on_it_and_adds_the_rest(tmp_path, data_dir, capsys):
    model = tmp_path / "model"
    assert main(["train", str(data_dir), "--out", str(model), "--encoder", "dhash", "--clusters", "2", "--sample", "5", "--seed", "3", "--quiet"]) == 0
    assert "images read:   12" in capsys.readouterr().out
    loaded = Pipeline.load(model)
    assert sorted(loaded.paths_) == sorted(str(p) for p in data_dir.glob("*.jpg"))
    assert len(loaded.clustering_.labels_) == 5  # the clustering saw the sample only
    np.testing.assert_array_equal(loaded.labels_[5:], loaded.predict(loaded.paths_[5:]))


def test_add_through_a_client_equals_a_local_add_and_cleans_its_shards(halves):
    model, _, later = halves
    local, distributed = Pipeline.load(model), Pipeline.load(model)
    local.add(later)
    client = InProcessClient()
    distributed.add(later, client=client, model_dir=model)
    assert client.submitted  # the files went through the client's tasks
    assert distributed.paths_ == local.paths_
    np.testing.assert_allclose(distributed.codes_, local.codes_, rtol=1e-5, atol=1e-6)
    assert not (model.parent / "model.add-shards").exists()


def test_a_client_needs_the_save_of_this_pipelines_encoder(halves, tmp_path, data_dir):
    model, _, later = halves
    with pytest.raises(ValueError, match="needs model_dir"):
        Pipeline.load(model).add(later, client=InProcessClient())
    other = tmp_path / "other"
    Pipeline(encoder="phash", n_clusters=2).fit(data_dir).save(other)
    with pytest.raises(ValueError, match="holds another encoder than this pipeline's"):
        Pipeline.load(model).add(later, client=InProcessClient(), model_dir=other)


@pytest.mark.slow
def test_add_with_local_workers_gives_the_codes_of_a_local_add(halves, capsys):
    model, _, later = halves
    expected = Pipeline.load(model)
    expected.add(later)
    assert main(["add", str(model), str(later), "--workers", "2", "--quiet"]) == 0
    assert "added:         6" in capsys.readouterr().out
    loaded = Pipeline.load(model)
    assert loaded.paths_ == expected.paths_
    np.testing.assert_allclose(loaded.codes_, expected.codes_, rtol=1e-5, atol=1e-6)


def test_workers_and_scheduler_exclude_each_other(halves, capsys):
    model, _, later = halves
    with pytest.raises(SystemExit):
        main(["add", str(model), str(later), "--workers", "2", "--scheduler", "tcp://localhost:8786"])
    assert "not allowed with argument" in capsys.readouterr().err
