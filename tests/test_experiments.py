"""Smoke test of quality: on scikit-learn's digits the default pipeline must beat K-Means on raw pixels by far."""

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))

from clustering_benchmark import run  # noqa: E402
from datasets import load_digits  # noqa: E402
from digits_clustering import METHODS  # noqa: E402


@pytest.fixture(scope="module")
def rows():
    images, labels = load_digits()
    quick = {name: METHODS[name] for name in ("K-Means on raw pixels", "cae_sim default")}
    return {row["method"]: row for row in run(quick, images, labels, split="all")[0]}


def test_default_pipeline_beats_raw_pixel_kmeans_on_digits(rows):
    raw, ours = rows["K-Means on raw pixels"], rows["cae_sim default"]
    assert ours["acc"] >= raw["acc"] + 0.05
    assert ours["nmi"] > raw["nmi"]
