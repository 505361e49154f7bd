import csv
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from cae_sim import Pipeline, match
from cae_sim.__main__ import main
from conftest import DATA, smooth_image, write_image

NAMES = ["astronaut", "chelsea", "coffee", "rocket", "brick", "coins"]
COPIES = {"astronaut": "astronaut", "chelsea": "chelsea", "coffee": "rocket"}  # target name: the photo it shows


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """source/ holds six photos; target/ holds JPEG copies of three (one under another photo's name) and an orphan."""
    root = tmp_path_factory.mktemp("match")
    for name in NAMES:
        write_image(root / "source" / f"{name}.png", cv2.cvtColor(cv2.imread(str(DATA / f"{name}.jpg")), cv2.COLOR_BGR2RGB))
    (root / "target").mkdir()
    for name, shown in COPIES.items():
        image = cv2.imread(str(DATA / f"{shown}.jpg"))
        cv2.imwrite(str(root / "target" / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 40])
    write_image(root / "target" / "orphan.png", smooth_image(0))
    (root / "target" / "broken.jpg").write_bytes(b"not a jpeg")
    return root / "source", root / "target"


def test_top_n_curve_counts_the_same_named_source(folders):
    source, target = folders
    report = match(source, target, encoder="phash", top=6)
    assert len(report.matches) == 4 and [len(row) for row in report.matches] == [6] * 4
    assert [path for path, _ in report.skipped] == [str(target / "broken.jpg")]
    assert report.n_paired == 3  # orphan has no same-named source
    ranks = {name: report.first_correct_rank(report.targets.index(str(target / f"{name}.jpg"))) for name in COPIES}
    assert ranks["astronaut"] == 1 and ranks["chelsea"] == 1 and ranks["coffee"] != 1  # the "coffee" copy shows the rocket
    curve = report.accuracy
    assert list(curve) == list(range(1, 7))
    assert curve[1] == pytest.approx(2 / 3) and curve[6] == 1.0
    assert all(a <= b for a, b in zip(list(curve.values()), list(curve.values())[1:]))
    assert curve[ranks["coffee"]] == 1.0 and (ranks["coffee"] == 2 or curve[ranks["coffee"] - 1] == pytest.approx(2 / 3))


def test_matches_are_best_first_and_top_is_capped_by_the_source(folders):
    source, target = folders
    report = match(source, target, encoder="phash", top=50)
    for row in report.matches:
        scores = [m.score for m in row]
        assert len(row) == len(NAMES) and scores == sorted(scores, reverse=True)


def test_a_fitted_pipeline_encodes_the_source_without_training(folders):
    source, target = folders
    pipeline = Pipeline(encoder="phash", n_clusters=1).fit(DATA)
    encoder = pipeline.encoder_
    report = match(source, target, pipeline=pipeline, top=3)
    assert pipeline.encoder_ is encoder and len(pipeline.paths_) == 12  # untouched: the source got its own index
    assert {m.path for row in report.matches for m in row} <= {str(p) for p in source.iterdir()}


def test_array_input_gives_matches_but_no_accuracy():
    images = np.stack([smooth_image(i) for i in range(4)])
    report = match(images, images[:2], encoder="phash", top=2)
    assert report.accuracy == {} and report.targets is None
    assert [row[0].index for row in report.matches] == [0, 1]


@pytest.mark.parametrize("top", [0, -1, 1.5, "3"])
def test_bad_top_is_named(folders, top):
    with pytest.raises(ValueError, match="top"):
        match(*folders, encoder="phash", top=top)


def test_a_target_folder_of_broken_files_is_refused(folders, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"")
    with pytest.raises(ValueError, match="none of the target images"):
        match(folders[0], tmp_path, encoder="phash")


def test_command_writes_the_matches_and_the_top_n_table(folders, tmp_path, capsys):
    source, target = folders
    out = tmp_path / "m.csv"
    assert main(["match", str(source), str(target), "--encoder", "phash", "--top", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "paired by name:  3 (1 target without a same-named source)" in printed and "broken.jpg" in printed
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["target", "correct_rank", "match_1", "score_1", "match_2", "score_2", "match_3", "score_3"]
    assert len(rows) == 5 and {row[0] for row in rows[1:]} == {str(p) for p in target.iterdir() if p.name != "broken.jpg"}
    curve = list(csv.reader((tmp_path / "m_accuracy.csv").open()))
    assert curve[0] == ["n", "accuracy"] and [row[0] for row in curve[1:]] == ["1", "2", "3"]
    assert f"  1  {float(curve[1][1]):.3f}" in printed


def test_command_refuses_a_model_and_an_encoder_together(folders, tmp_path):
    with pytest.raises(SystemExit):
        main(["match", str(folders[0]), str(folders[1]), "--model", str(tmp_path), "--encoder", "phash"])


def test_an_empty_target_is_refused_before_the_source_is_read(tmp_path):
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "bad.png").write_bytes(b"")  # fitting on it would fail with "none of the ... images"
    (tmp_path / "target").mkdir()
    with pytest.raises(ValueError, match="no image files .* in folder .*target"):
        match(tmp_path / "source", tmp_path / "target", encoder="phash")


def test_command_refuses_an_empty_target_before_loading_the_library(folders, tmp_path):
    script = (
        "import sys\n"
        "from cae_sim.cli import main\n"
        f"status = main(['match', {str(folders[0])!r}, {str(tmp_path)!r}])\n"
        "print(status, [name for name in ('cae_sim.matching', 'sklearn', 'tensorflow') if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout == "2 []\n"
    assert done.stderr == f"error: no image files (.bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp) in folder {str(tmp_path)!r}\n"


@pytest.mark.parametrize("quiet", [False, True])
def test_command_draws_progress_unless_quiet_and_lists_skipped_files_once(folders, tmp_path, capsys, quiet):
    source = shutil.copytree(folders[0], tmp_path / "source")
    (source / "broken.png").write_bytes(b"not a png")  # fitting on the source skips it, with a SkippedImagesWarning
    argv = ["match", str(source), str(folders[1]), "--encoder", "phash", "--out", str(tmp_path / "m.csv")]
    assert main(argv + ["--quiet"] * quiet) == 0
    out, err = capsys.readouterr()
    for broken in ("broken.png", "broken.jpg"):  # in the summary, not again as a warning
        assert out.count(broken) == 1 and broken not in err
    assert ("encoding 7/7 [" in err) is not quiet and ("encoding 5/5 [" in err) is not quiet  # source, then target
    assert "\x1b" not in err and "\r" not in err and "warning" not in err.lower()
