import csv
import shutil
import subprocess
import sys

import pytest

from cae_sim import Pipeline
from cae_sim.__main__ import main as cae_sim_main
from cae_sim.train import main as train_main

TINY_ARGS = ["--encoder", "cae", "--epochs", "2", "--image-size", "16", "--code-size", "8", "--seed", "0", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("cli") / "model"
    assert train_main([str(data_dir), "--out", str(out), "--clusters", "3", *TINY_ARGS]) == 0
    return out


def test_train_saves_a_pipeline_and_clusters_csv(trained, data_dir):
    pipeline = Pipeline.load(trained)
    assert pipeline.n_clusters_ == 3 and pipeline.image_size == 16
    with open(trained / "clusters.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["path"] for row in rows] == pipeline.paths_
    assert [int(row["cluster"]) for row in rows] == pipeline.labels_.tolist()
    assert all(float(row["distance_to_center"]) >= 0 for row in rows)


def test_train_prints_a_summary(tmp_path, data_dir, capsys):
    assert train_main([str(data_dir), "--out", str(tmp_path / "m"), "--clusters", "auto", *TINY_ARGS]) == 0
    out = capsys.readouterr().out
    assert "encoder:       cae\n" in out and "images read:   12" in out and "skipped:       0" in out
    assert "(chosen by silhouette)" in out and "cluster 0:" in out


def test_query_prints_the_image_itself_first(trained, data_dir, capsys):
    assert cae_sim_main(["query", str(trained), str(data_dir / "rocket.jpg"), "-n", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].split()[0] == "1" and lines[0].endswith("rocket.jpg")
    assert float(lines[0].split()[1]) == pytest.approx(1.0, abs=1e-3)


def test_bad_input_gives_one_line_and_status_2(tmp_path, data_dir, capsys):
    assert train_main([str(tmp_path), "--out", str(tmp_path / "m"), *TINY_ARGS]) == 2
    assert "no image files" in capsys.readouterr().err
    assert cae_sim_main(["query", str(data_dir), str(data_dir / "rocket.jpg")]) == 2
    assert "not a cae_sim save" in capsys.readouterr().err


@pytest.mark.parametrize("option, value", [("--clusters", "zero"), ("--epochs", "0"), ("--image-size", "-8"), ("--batch-size", "x")])
def test_bad_option_values_are_rejected_by_the_parser_before_any_reading(data_dir, capsys, option, value):
    with pytest.raises(SystemExit):
        train_main([str(data_dir), "--out", "x", option, value])
    assert f"argument {option}" in capsys.readouterr().err


def test_train_will_not_replace_a_save_without_overwrite_or_fill_a_foreign_folder(trained, data_dir, tmp_path, capsys):
    before = (trained / "manifest.json").read_bytes()
    assert train_main([str(data_dir), "--out", str(trained), *TINY_ARGS]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (trained / "manifest.json").read_bytes() == before
    (tmp_path / "notes.txt").write_text("mine")
    assert train_main([str(data_dir), "--out", str(tmp_path), *TINY_ARGS]) == 2
    assert "is not a cae_sim save" in capsys.readouterr().err
    assert train_main([str(data_dir), "--out", str(trained), "--overwrite", "--clusters", "3", *TINY_ARGS]) == 0


def test_train_by_default_chooses_the_pretrained_encoder_for_photos_and_prints_why(tmp_path, data_dir, capsys):
    out = tmp_path / "m"
    assert train_main([str(data_dir), "--out", str(out), "--clusters", "2", "--quiet"]) == 0
    assert Pipeline.load(out).codes_.shape == (12, 1280)
    printed = capsys.readouterr().out
    assert "encoder:       efficientnet_lite0 (colour images, typical side" in printed
    assert "clusters:      2" in printed


@pytest.mark.slow
def test_the_train_command_prints_only_its_summary(tmp_path, data_dir):
    photos = [str(data_dir / name) for name in ("coffee.jpg", "rocket.jpg", "chelsea.jpg")]
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos:
        shutil.copy(photo, folder)
    done = subprocess.run(
        [sys.executable, "-m", "cae_sim.train", str(folder), "--out", str(tmp_path / "m"), "--clusters", "2", "--quiet"],
        capture_output=True, text=True, check=True,
    )
    assert done.stderr == ""  # no TensorFlow start-up lines
    assert done.stdout.splitlines()[0].startswith("encoder:       efficientnet_lite0")
