"""The verify and relocate commands: a save checked byte for byte, and pointed at images that moved."""

import csv
import shutil

import pytest

from cae_sim import Pipeline
from cae_sim.cli import main


@pytest.fixture()
def saved(tmp_path, data_dir):
    """A phash save of a copy of data/'s photos in tmp_path/photos."""
    photos = tmp_path / "photos"
    shutil.copytree(data_dir, photos)
    model = tmp_path / "model"
    assert main(["train", str(photos), "--out", str(model), "--encoder", "phash", "--clusters", "2", "--quiet"]) == 0
    return model, photos


def test_verify_checks_every_file_of_a_whole_save(saved, capsys):
    model, _ = saved
    capsys.readouterr()
    assert main(["verify", str(model)]) == 0
    out = capsys.readouterr().out
    n_files = int(out.split()[1])
    assert out == f"ok: {n_files} files verified in {model}\n" and n_files >= 3  # codes, labels, the index or paths...


def test_verify_names_a_changed_file_and_exits_1(saved, capsys):
    model, _ = saved
    codes = model / "codes.npy"
    data = bytearray(codes.read_bytes())
    data[-1] ^= 1  # same size, another byte: only a full hash check sees it
    codes.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["verify", str(model)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ") and "codes.npy" in captured.err
    assert main(["verify", str(model.parent)]) == 1
    assert "is not a cae_sim save" in capsys.readouterr().err


def test_relocate_points_the_save_and_its_clusters_csv_at_the_moved_images(saved, tmp_path, capsys):
    model, photos = saved
    moved = tmp_path / "elsewhere" / "photos"
    moved.parent.mkdir()
    photos.rename(moved)
    capsys.readouterr()
    assert main(["relocate", str(model), str(photos), str(moved)]) == 0
    assert capsys.readouterr().out == f"relocated:     12 image paths from {photos} to {moved}\n"
    loaded = Pipeline.load(model)
    assert sorted(loaded.paths_) == sorted(str(p) for p in moved.glob("*.jpg"))
    with open(model / "clusters.csv", newline="", encoding="utf-8") as file:
        assert [row["path"] for row in csv.DictReader(file)] == loaded.paths_
    assert main(["verify", str(model)]) == 0
    assert loaded.query(str(moved / "rocket.jpg"), n=1)[0].path == str(moved / "rocket.jpg")


def test_relocate_takes_folders_relative_to_the_working_directory_and_counts_only_changed_paths(saved, tmp_path, monkeypatch, capsys):
    model, photos = saved
    (tmp_path / "new").mkdir()
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["relocate", str(model), "other", "new"]) == 0
    assert capsys.readouterr().out == f"relocated:     0 image paths from {tmp_path / 'other'} to {tmp_path / 'new'}\n"
    assert main(["relocate", str(model), "photos", "new"]) == 0
    assert capsys.readouterr().out.startswith("relocated:     12 image paths")
    assert all(path.startswith(str(tmp_path / "new") + "/") for path in Pipeline.load(model).paths_)


def test_relocate_refuses_a_new_folder_that_is_not_there(saved, tmp_path, capsys):
    model, photos = saved
    assert main(["relocate", str(model), str(photos), str(tmp_path / "typo")]) == 2
    assert capsys.readouterr().err == f"error: no such folder: {str(tmp_path / 'typo')!r}\n"
