import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cae_sim import SklearnIndex
from cae_sim.index import l2_normalize


def distinct_codes():
    """(n, d) float32 codes with well separated rows (so the nearest of each row is itself)."""
    return st.tuples(st.integers(2, 30), st.integers(2, 8), st.integers(0, 2**16)).map(
        lambda a: np.random.default_rng(a[2]).normal(size=(a[0], a[1])).astype(np.float32)
    )


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@given(codes=distinct_codes())
def test_each_code_is_its_own_nearest_neighbour(metric, codes):
    distances, indices = SklearnIndex(metric).fit(codes).kneighbors(codes, 1)
    np.testing.assert_array_equal(indices[:, 0], np.arange(len(codes)))
    np.testing.assert_allclose(distances[:, 0], 0, atol=1e-3)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@given(codes=distinct_codes(), k=st.integers(1, 40))
def test_results_come_nearest_first_and_scores_best_first(metric, codes, k):
    index = SklearnIndex(metric).fit(codes)
    distances, indices = index.kneighbors(codes[:3], k)
    assert distances.shape == indices.shape == (min(3, len(codes)), min(k, len(codes)))
    assert (np.diff(distances, axis=1) >= -1e-6).all()
    assert (np.diff(index.score(distances), axis=1) <= 1e-6).all()


@given(codes=distinct_codes())
def test_cosine_distances_match_numpy(codes):
    index = SklearnIndex("cosine").fit(codes)
    distances, indices = index.kneighbors(codes[:1], len(codes))
    unit = l2_normalize(codes)
    expected = 1 - unit[indices[0]] @ unit[0]
    np.testing.assert_allclose(distances[0], expected, atol=1e-4)
    np.testing.assert_allclose(index.score(distances[0]), unit[indices[0]] @ unit[0], atol=1e-4)


@given(arrays(np.float32, (4, 3), elements=st.floats(-100, 100, width=32)))
def test_distance_of_paired_rows(codes):
    index = SklearnIndex("euclidean").fit(codes)
    np.testing.assert_allclose(index.distance(codes, codes[::-1]), np.linalg.norm(codes - codes[::-1], axis=1), rtol=1e-5, atol=1e-3)


def test_cosine_ignores_length():
    index = SklearnIndex("cosine").fit(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert index.score(index.distance(np.array([[3.0, 0.0]]), np.array([[0.5, 0.0]])))[0] == pytest.approx(1.0)
    assert index.score(index.distance(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])))[0] == pytest.approx(0.0)


def test_asking_for_more_neighbours_than_codes_returns_all():
    codes = np.eye(3, dtype=np.float32)
    distances, indices = SklearnIndex().fit(codes).kneighbors(codes[:1], 10)
    assert sorted(indices[0].tolist()) == [0, 1, 2]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="metric"):
        SklearnIndex("manhattan")
    index = SklearnIndex()
    with pytest.raises(ValueError, match="fit"):
        index.kneighbors(np.zeros((1, 2)))
    index.fit(np.eye(2))
    with pytest.raises(ValueError, match="n_neighbors"):
        index.kneighbors(np.zeros((1, 2)), 0)
    with pytest.raises(ValueError, match="2 features"):
        index.kneighbors(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        index.kneighbors(np.full((1, 2), np.nan))
