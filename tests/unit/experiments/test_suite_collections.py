"""The evaluation suite's collection helpers, on small synthetic arrays (never the network nor the real packages)."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))

import suite_collections  # noqa: E402
from suite_collections import (  # noqa: E402
    COLLECTIONS,
    KINDS,
    Collection,
    _patches,
    deduplicate,
    load_collection,
    stratified_cap,
)


def pool(size: int, shape=(3, 4)) -> np.ndarray:
    """``size`` distinct uint8 images: image k is filled with k (and a marker pixel so 0 is not special)."""
    images = np.zeros((size, *shape), np.uint8)
    for k in range(size):
        images[k] = k
        images[k].flat[0] = 255 - k
    return images


# --------------------------------------------------------------------------- deduplicate


def test_deduplicate_keeps_the_first_of_byte_identical_copies():
    distinct = pool(3)
    images = distinct[[0, 1, 0, 2, 1, 0]]
    labels = np.array([5, 6, 5, 7, 6, 5])
    kept_images, kept_labels = deduplicate(images, labels)
    np.testing.assert_array_equal(kept_images, distinct[[0, 1, 2]])
    np.testing.assert_array_equal(kept_labels, [5, 6, 7])


def test_deduplicate_drops_every_copy_of_an_ambiguous_image():
    distinct = pool(3)
    images = distinct[[0, 1, 0, 2]]
    labels = np.array([0, 1, 1, 2])  # image 0 is labelled 0 once and 1 once
    kept_images, kept_labels = deduplicate(images, labels)
    np.testing.assert_array_equal(kept_images, distinct[[1, 2]])
    np.testing.assert_array_equal(kept_labels, [1, 2])


def test_deduplicate_keeps_distinct_images_that_differ_in_one_value():
    images = np.zeros((2, 5, 5, 3), np.uint8)
    images[1, 4, 4, 2] = 1
    kept_images, kept_labels = deduplicate(images, np.array([3, 3]))
    assert len(kept_images) == 2
    np.testing.assert_array_equal(kept_labels, [3, 3])


def test_deduplicate_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        deduplicate(pool(3), np.array([0, 1]))


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2)), min_size=0, max_size=30))
def test_deduplicate_property(items):
    """Each content is kept once at its first position, unless its copies disagree on the label; order kept."""
    distinct = pool(6)
    which = np.array([content for content, _ in items], dtype=np.int64)
    labels = np.array([label for _, label in items], dtype=np.int64)
    images = distinct[which] if len(items) else np.zeros((0, 3, 4), np.uint8)
    kept_images, kept_labels = deduplicate(images, labels)

    expected = []
    for content in dict.fromkeys(which.tolist()):  # contents in order of first appearance
        positions = np.flatnonzero(which == content)
        if len(set(labels[positions].tolist())) == 1:
            expected.append(positions[0])
    expected = np.sort(np.array(expected, dtype=np.int64))
    assert len(kept_images) == len(kept_labels) == len(expected)
    np.testing.assert_array_equal(kept_images, images[expected])
    np.testing.assert_array_equal(kept_labels, labels[expected])
    assert len({image.tobytes() for image in kept_images}) == len(kept_images)


# --------------------------------------------------------------------------- stratified_cap


def test_stratified_cap_returns_all_positions_when_small_enough():
    labels = np.array([2, 0, 2, 1])
    np.testing.assert_array_equal(stratified_cap(labels, 4), [0, 1, 2, 3])
    np.testing.assert_array_equal(stratified_cap(labels, 100), [0, 1, 2, 3])


def test_stratified_cap_keeps_shares_and_every_class():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10 + [3] * 1)
    positions = stratified_cap(labels, 100, seed=3)
    assert len(positions) == 100
    counts = np.bincount(labels[positions], minlength=4)
    assert counts[3] == 1 and counts[2] == 1  # tiny classes keep at least one
    assert abs(counts[0] - 90) <= 1 and abs(counts[1] - 9) <= 1
    assert np.all(np.diff(positions) > 0)


def test_stratified_cap_is_deterministic_for_a_seed():
    labels = np.random.default_rng(0).integers(0, 5, 500)
    first = stratified_cap(labels, 60, seed=7)
    np.testing.assert_array_equal(first, stratified_cap(labels, 60, seed=7))
    assert not np.array_equal(first, stratified_cap(labels, 60, seed=8))


def test_stratified_cap_rejects_too_few_slots_for_the_classes():
    with pytest.raises(ValueError, match="3 classes"):
        stratified_cap(np.array([0, 0, 1, 1, 2, 2]), 2)
    with pytest.raises(ValueError, match="at least 1"):
        stratified_cap(np.array([0, 1]), 0)


@given(st.lists(st.integers(0, 6), min_size=1, max_size=80), st.integers(1, 80), st.integers(0, 3))
def test_stratified_cap_property(values, max_images, seed):
    labels = np.array(values)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) > max_images and len(labels) > max_images:
        with pytest.raises(ValueError):
            stratified_cap(labels, max_images, seed=seed)
        return
    positions = stratified_cap(labels, max_images, seed=seed)
    assert len(positions) == min(len(labels), max_images)
    assert np.all(np.diff(positions) > 0) and positions.min() >= 0 and positions.max() < len(labels)
    kept_classes, kept_counts = np.unique(labels[positions], return_counts=True)
    np.testing.assert_array_equal(kept_classes, classes)  # every class keeps at least one item
    shares = counts * len(positions) / len(labels)
    assert np.all(kept_counts <= counts)
    assert np.all(np.abs(kept_counts - shares) < 1 + len(classes))  # near its share
    np.testing.assert_array_equal(positions, stratified_cap(labels, max_images, seed=seed))


# --------------------------------------------------------------------------- load_collection


def test_load_collection_rejects_an_unknown_name():
    with pytest.raises(ValueError, match="'no_such_set'"):
        load_collection("no_such_set")


def test_load_collection_deduplicates_before_capping_and_renumbers(monkeypatch):
    distinct = pool(12)
    # label 7: images 0-5, each present 10 times; label 3: images 6-11 once each.
    images = np.concatenate([np.repeat(distinct[:6], 10, axis=0), distinct[6:]])
    labels = np.array([7] * 60 + [3] * 6)
    fake = Collection("fake", "small gray", lambda: (images, labels), "synthetic")
    monkeypatch.setitem(suite_collections.COLLECTIONS, "fake", fake)
    got_images, got_labels = load_collection("fake", max_images=6, seed=0)
    # 12 distinct images, half of each label: the cap keeps 3 + 3 (before dedup it would keep 5 of label 7).
    assert got_images.shape == (6, 3, 4) and got_labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(got_labels), [3, 3])  # 3 -> 0, 7 -> 1
    assert len({image.tobytes() for image in got_images}) == 6


def test_the_collections_are_declared_well():
    assert len(COLLECTIONS) >= 10
    for name, collection in COLLECTIONS.items():
        assert collection.name == name and collection.kind in KINDS and callable(collection.load)
        assert collection.source and "\n" not in collection.source
    assert set(KINDS) == {collection.kind for collection in COLLECTIONS.values()}


# --------------------------------------------------------------------------- loader helpers


def test_patches_cut_a_non_overlapping_grid():
    image = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    patches = _patches(image, 2)
    assert patches.shape == (2 * 3, 2, 2, 3)
    np.testing.assert_array_equal(patches[0], image[0:2, 0:2])
    np.testing.assert_array_equal(patches[4], image[2:4, 2:4])
    np.testing.assert_array_equal(patches[5], image[2:4, 4:6])
