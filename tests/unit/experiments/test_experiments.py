"""The experiments' shared code: the results files, scores and pictures. (The digits quality check, a measurement of
30 s, is experiments/digits_quality_check.py.)"""

import argparse
import json
import sys
from collections import Counter

import cv2
import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))

import benchlib  # noqa: E402
import clustering_benchmark  # noqa: E402
import copy_detection  # noqa: E402
import near_duplicates  # noqa: E402
import render_results  # noqa: E402
from datasets import load_digits  # noqa: E402

from cae_sim import Pipeline  # noqa: E402
from cae_sim.plots import write_image  # noqa: E402


def test_a_benchmark_file_keeps_its_results_under_results(tmp_path, monkeypatch):
    monkeypatch.setattr(benchlib, "RESULTS", tmp_path)
    results = {"ratio": 1.5, "folder": {"n": 8}}
    record = json.loads(benchlib.write_results("bench_demo", argparse.Namespace(seed=3), results=results).read_text())
    assert record["results"] == results and record["options"] == {"seed": 3}
    assert {"command", "machine", "source_when_imported"} <= set(record)


def test_a_clustering_file_renders_in_the_readme_table(tmp_path, monkeypatch):
    monkeypatch.setattr(benchlib, "RESULTS", tmp_path)
    measured = {"method": "demo method", "split": "test", "acc": 0.5, "nmi": 0.25, "ari": 0.125, "seconds": 7.0}
    published = {"method": "paper method", "source": "a paper", "acc": 0.75}
    path = benchlib.write_results("demo_clustering", measured=[measured], published=[published], figures=[])
    lines = render_results.table(json.loads(path.read_text()))
    assert lines[2].startswith(f"| {measured['method']} | {measured['split']} | {measured['acc']:.3f} |")
    assert lines[3].startswith(f"| {published['method']} (published: {published['source']}) |")


def test_the_committed_clustering_results_still_render():
    # every clustering experiment's results are committed (docs/results.md is rendered from them): a missing file is a
    # failure, not a pass, and each of its measured rows is in the rendered text
    text = render_results.render()
    for name in render_results.EXPERIMENTS:
        path = benchlib.RESULTS / f"{name}.json"
        assert path.is_file(), f"{path} is missing: run its experiment and commit the results"
        measured = json.loads(path.read_text())["measured"]
        assert measured and all(f"| {row['method']} | {row['split']} |" in text for row in measured), name
    assert "*No table:" not in text


def test_copy_detection_scores_count_the_rank_of_each_original():
    rng = np.random.default_rng(0)
    kinds = [kind for kind in copy_detection.DEGRADATIONS for _ in range(6)]
    truth = rng.integers(0, 17, len(kinds))
    ranks = rng.integers(0, 7, len(kinds))  # 5 and 6: the original is not among the five results
    ranking = np.full((len(kinds), 5), 99)
    hit = ranks < 5
    ranking[np.flatnonzero(hit), ranks[hit]] = truth[hit]
    scores = copy_detection.scores(ranking, list(truth), kinds)
    assert scores["overall"] == {"top1": np.mean(ranks == 0), "top5": np.mean(hit)}
    for kind in copy_detection.DEGRADATIONS:
        mask = np.asarray(kinds) == kind
        assert scores[kind] == {"top1": np.mean(ranks[mask] == 0), "top5": np.mean(hit[mask])}


def test_the_clustering_pictures_show_a_row_per_cluster_and_the_code_map(tmp_path, monkeypatch):
    monkeypatch.setattr(clustering_benchmark, "RESULTS", tmp_path)
    images = load_digits()[0][:100]
    pipeline = Pipeline(encoder="dhash", n_clusters=4, random_state=0).fit(images)  # no autoencoder: no reconstructions
    written = clustering_benchmark.save_plots("demo", pipeline, images)
    assert written == ["demo_clusters.png", "demo_codes.png"]
    assert cv2.imread(str(tmp_path / written[0])).shape == (len(np.unique(pipeline.labels_)) * 44, 12 * 44, 3)  # 40-px tiles, 4 px apart
    assert cv2.imread(str(tmp_path / written[1])).shape == (600, 600, 3)


def smooth_image(seed: int, height: int = 40, width: int = 48) -> np.ndarray:
    """A smooth random RGB uint8 image: 6×6 noise enlarged."""
    noise = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def test_near_duplicates_raw_pixel_codes_are_flat_centred_pixels(tmp_path):
    image = smooth_image(0)
    paths = [str(tmp_path / f"{name}.png") for name in ("image", "enlarged", "other")]
    for path, picture in zip(paths, (image, cv2.resize(image, (96, 80)), smooth_image(1))):
        write_image(path, picture)
    raw = near_duplicates.raw_pixel_codes(paths, side=16, centre=False)
    assert raw.dtype == np.float32 and raw.shape == (3, 16 * 16 * 3)
    assert np.array_equal(raw[0], cv2.resize(image, (16, 16), interpolation=cv2.INTER_AREA).ravel() / np.float32(255))
    codes = near_duplicates.raw_pixel_codes(paths, side=16)
    np.testing.assert_allclose(codes, raw - raw.mean(axis=1, keepdims=True))
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > 0.95 > unit[0] @ unit[2]


def test_near_duplicates_finds_the_exact_copies_in_a_small_collection_with_raw_pixels(tmp_path):
    images = {f"image{i}": smooth_image(i) for i in range(4)}
    collection = near_duplicates.Collection(lambda seed: (images, [smooth_image(9)]), n_copied=2, resize=2.0)
    truth = near_duplicates.write_folder(tmp_path, collection, seed=0)
    assert Counter(kind for _, kind in truth.values()) == {"original": 4, "distractor": 1, **dict.fromkeys(near_duplicates.COPY_KINDS, 2)}
    result = near_duplicates.evaluate(near_duplicates.RAW_PIXELS, str(tmp_path), truth)
    assert len(result["thresholds"]) == len(near_duplicates.THRESHOLDS)
    assert all(row["recall_by_kind"]["exact"] == 1.0 for row in result["thresholds"])
    assert result["margins"]["lowest_exact"] == pytest.approx(1.0)
    best = result["best_f1"]
    assert best["f1"] == max(2 * r["precision"] * r["recall"] / (r["precision"] + r["recall"]) for r in result["thresholds"])
