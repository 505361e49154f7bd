"""The evaluation suite's measures and the rule that decides a default (docs/defaults.md), on made-up results."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))

import suite  # noqa: E402
from suite import CANDIDATES, LITE0, copy_top1, mean_ranks, precision_at_10, verdict  # noqa: E402


def results(acc: dict[str, list[float]], copies: dict[str, list[float]] | None = None) -> dict:
    """Suite results of every candidate on len(lists) collections: ACC given for some candidates, 0.1 for the rest."""
    n = len(next(iter(acc.values())))
    rows = {}
    for c in range(n):
        rows[f"set{c}"] = {"candidates": {
            name: {"acc": acc.get(name, [0.1] * n)[c], "copy_top1": (copies or {}).get(name, [0.5] * n)[c]}
            for name in CANDIDATES
        }}
    return rows


OTHER = "efficientnet_lite2 pooled + K-Means"


def test_the_best_ranked_candidate_that_passes_the_guards_becomes_the_default():
    rule = verdict(results({LITE0: [0.60, 0.70, 0.50], OTHER: [0.70, 0.71, 0.49]}))
    assert rule["default"] == OTHER and rule["mean_acc_rank"][OTHER] < rule["mean_acc_rank"][LITE0]


def test_a_candidate_more_than_002_below_lite0_on_one_collection_cannot_win():
    rule = verdict(results({LITE0: [0.60, 0.70, 0.50], OTHER: [0.90, 0.90, 0.47]}))
    assert rule["mean_acc_rank"][OTHER] == min(rule["mean_acc_rank"].values())
    assert OTHER not in rule["passing_guards"] and rule["default"] == LITE0
    assert rule["worst_acc_gap_to_lite0"][OTHER] == pytest.approx(-0.03)


def test_a_candidate_that_loses_copies_cannot_win():
    copies = {LITE0: [0.9, 0.9, 0.9], OTHER: [0.85, 0.85, 0.85]}
    rule = verdict(results({LITE0: [0.60, 0.70, 0.50], OTHER: [0.70, 0.71, 0.55]}, copies))
    assert OTHER not in rule["passing_guards"] and rule["default"] == LITE0


def test_ties_share_their_mean_rank():
    ranks = mean_ranks(results({LITE0: [0.5], OTHER: [0.5]}))
    assert ranks[LITE0] == ranks[OTHER] == 1.5
    assert all(rank == (3 + len(CANDIDATES)) / 2 for name, rank in ranks.items() if name not in (LITE0, OTHER))


def test_precision_at_10_counts_same_class_neighbours_without_the_image_itself():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 8)) * 10
    labels = np.repeat([0, 1], 11)
    codes = centres[labels] + rng.normal(size=(22, 8)) * 0.01
    assert precision_at_10(codes, labels) == 1.0
    assert precision_at_10(codes, rng.permutation(labels)) < 0.8


@given(st.integers(2, 30), st.integers(0, 5))
def test_a_copy_equal_to_its_original_is_found_first(n, seed):
    codes = np.random.default_rng(seed).normal(size=(n, 6)).astype(np.float32)
    originals = np.arange(n)
    assert copy_top1(codes, codes * 2, originals) == 1.0
    assert copy_top1(codes, codes[np.roll(originals, 1)], originals) == 0.0


def test_raw_pixels_keep_gray_one_channel_and_scale_to_one():
    gray = np.full((3, 50, 40), 255, np.uint8)
    colour = np.zeros((3, 50, 40, 3), np.uint8)
    assert suite.raw_pixels(gray).shape == (3, suite.RAW_SIDE**2) and suite.raw_pixels(gray).max() == 1.0
    assert suite.raw_pixels(colour).shape == (3, 3 * suite.RAW_SIDE**2)
