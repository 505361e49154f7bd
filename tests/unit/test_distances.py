"""The metrics as objects: what they prepare, measure and score, and the thresholds they take."""

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cae_sim.distances import COSINE, DISTANCES, EUCLIDEAN, HAMMING, Distance, get_distance
from cae_sim.index import METRICS

codes_pairs = st.tuples(st.integers(1, 6), st.integers(1, 8)).flatmap(
    lambda shape: st.tuples(*2 * [arrays(np.float32, shape, elements=st.floats(-50, 50, width=32))])
)


def test_the_three_metrics_are_registered_objects_and_metrics_lists_them():
    assert DISTANCES.names() == ["cosine", "euclidean", "hamming"] and METRICS == ("cosine", "euclidean", "hamming")
    for name, distance in DISTANCES.items():
        assert isinstance(distance, Distance) and distance.name == name
        assert get_distance(name) is distance and get_distance(distance) is distance
        assert DISTANCES.get_config(distance) == {"name": name, "config": {}}
        assert DISTANCES.from_config({"name": name, "config": {}}) is distance


def re_repr(value) -> str:
    return re.escape(repr(value))


@pytest.mark.parametrize("metric", ["manhattan", "", None, 3, ["cosine"]])
def test_an_unknown_metric_is_named_with_the_choices(metric):
    with pytest.raises(ValueError, match=rf"unknown metric {re_repr(metric)}.*choose one of: cosine, euclidean, hamming"):
        get_distance(metric)


@given(codes_pairs)
def test_paired_distances_are_the_metrics_own(pair):
    a, b = pair
    assume((np.linalg.norm(a, axis=1) > 1e-3).all() and (np.linalg.norm(b, axis=1) > 1e-3).all())  # zero codes have no direction
    unit_a, unit_b = COSINE.prepare(a), COSINE.prepare(b)
    cosine = 1 - np.einsum("nd,nd->n", unit_a, unit_b)
    np.testing.assert_allclose(COSINE.paired(unit_a, unit_b), np.clip(cosine, 0, 2), atol=1e-4)
    np.testing.assert_allclose(EUCLIDEAN.paired(a, b), np.linalg.norm(a.astype(np.float64) - b, axis=1), rtol=1e-4, atol=1e-2)
    bits = np.count_nonzero((a > 0) != (b > 0), axis=1)
    np.testing.assert_array_equal(HAMMING.paired(HAMMING.prepare(a), HAMMING.prepare(b)), bits)


@given(codes_pairs)
def test_scores_lie_in_each_metrics_range_and_fall_as_distance_grows(pair):
    a, b = pair
    width = a.shape[1]
    for distance, low in ((COSINE, -1.0), (EUCLIDEAN, 0.0), (HAMMING, 0.0)):
        distances = np.sort(distance.paired(distance.prepare(a), distance.prepare(b)))
        scores = distance.score(distances, width)
        assert scores.dtype == np.float32 and ((scores >= low - 1e-6) & (scores <= 1 + 1e-6)).all()
        assert (np.diff(scores) <= 1e-6).all()  # farther never scores higher
        assert distance.score(np.zeros(1, np.float32), width)[0] == pytest.approx(1.0)


def test_scores_are_cosine_similarity_inverse_distance_and_share_of_equal_bits():
    np.testing.assert_allclose(COSINE.score(np.array([0.0, 1.0, 2.0])), [1.0, 0.0, -1.0])
    np.testing.assert_allclose(EUCLIDEAN.score(np.array([0.0, 1.0, 3.0])), [1.0, 0.5, 0.25])
    np.testing.assert_allclose(HAMMING.score(np.array([0.0, 16.0, 64.0]), 64), [1.0, 0.75, 0.0])
    with pytest.raises(ValueError, match="n_features"):
        HAMMING.score(np.zeros(2))


def test_prepare_normalises_for_cosine_binarises_for_hamming_and_keeps_euclidean():
    codes = np.array([[3.0, -4.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(COSINE.prepare(codes), [[0.6, -0.8, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(HAMMING.prepare(codes), [[1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(EUCLIDEAN.prepare(codes), codes)


@pytest.mark.parametrize(
    "metric, threshold",
    [("cosine", -1), ("cosine", 1.0), ("cosine", np.float32(0.5)), ("euclidean", 1e-9), ("euclidean", 1), ("hamming", 0.5)],
)
def test_a_threshold_inside_the_range_is_returned_as_a_float(metric, threshold):
    checked = get_distance(metric).check_threshold(threshold)
    assert type(checked) is float and checked == pytest.approx(float(threshold))


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["cosine", "euclidean", "hamming"]))
def test_a_threshold_is_taken_exactly_when_it_lies_in_the_metrics_range(threshold, metric):
    distance = get_distance(metric)
    low_ok = threshold >= -1 if metric == "cosine" else threshold > 0
    if low_ok and threshold <= 1:
        assert distance.check_threshold(threshold) == threshold
    else:
        bounds = "[-1, 1]" if metric == "cosine" else "(0, 1]"
        with pytest.raises(ValueError, match=rf"threshold must be a number in {re.escape(bounds)} for metric '{metric}', got"):
            distance.check_threshold(threshold)


@pytest.mark.parametrize("threshold", [True, np.bool_(True), "0.9", None])
def test_a_threshold_that_is_no_number_is_refused(threshold):
    with pytest.raises(ValueError, match=f"got {re_repr(threshold)}"):
        COSINE.check_threshold(threshold)
