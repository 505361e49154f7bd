import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cae_sim import SklearnIndex
from cae_sim.codes import l2_normalize


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


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "hamming"])
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


def sign_codes():
    """(n, d) float32 ±1 codes, as the hash encoders make them, rows possibly repeated."""
    return st.tuples(st.integers(1, 30), st.integers(1, 70), st.integers(0, 2**16)).map(
        lambda a: np.where(np.random.default_rng(a[2]).random((a[0], a[1])) < 0.5, -1.0, 1.0).astype(np.float32)
    )


def count_differing_signs(a, b):
    return np.count_nonzero((a > 0) != (b > 0), axis=-1)


@given(codes=sign_codes(), scale=st.floats(0.01, 100))
def test_hamming_distances_count_differing_sign_bits(codes, scale):
    index = SklearnIndex("hamming").fit(codes * scale)  # only the signs count
    distances, indices = index.kneighbors(codes[:3], len(codes))
    assert distances.dtype == np.float32
    expected = count_differing_signs(codes[:3, None], codes[None])
    np.testing.assert_array_equal(distances, np.take_along_axis(expected, indices, axis=1))
    np.testing.assert_array_equal(distances, np.sort(expected, axis=1))  # nearest first, none left out
    for row in indices:
        assert sorted(row.tolist()) == list(range(len(codes)))
    scores = index.score(distances)
    np.testing.assert_allclose(scores, 1 - distances / codes.shape[1], atol=1e-6)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert (index.score(index.distance(codes, codes)) == 1).all()


@given(arrays(np.float32, (5, 9), elements=st.floats(-10, 10, width=32)))
def test_hamming_distance_of_paired_rows(codes):
    index = SklearnIndex("hamming").fit(codes)
    distances = index.distance(codes, codes[::-1])
    np.testing.assert_array_equal(distances, count_differing_signs(codes, codes[::-1]))
    assert distances.dtype == np.float32


@given(codes=sign_codes())
def test_cosine_ranks_sign_codes_as_hamming_does(codes):
    n_bits = codes.shape[1]
    cosine = SklearnIndex("cosine").fit(codes)
    hamming = SklearnIndex("hamming").fit(codes)
    cosine_distances, cosine_indices = cosine.kneighbors(codes, len(codes))
    hamming_distances, _ = hamming.kneighbors(codes, len(codes))
    # cosine similarity of ±1 codes is 1 − 2·hamming / n_bits: the same ranking, up to the order of ties
    np.testing.assert_allclose(cosine_distances * n_bits / 2, hamming_distances, atol=1e-3)
    exact = count_differing_signs(codes[:, None], codes[None])
    np.testing.assert_array_equal(np.take_along_axis(exact, cosine_indices, axis=1), hamming_distances)
    np.testing.assert_allclose(cosine.score(cosine_distances), 1 - 2 * hamming_distances / n_bits, atol=1e-5)


def test_hamming_binarises_by_sign():
    index = SklearnIndex("hamming").fit(np.array([[0.5, -2.0, 0.0], [3.0, 1.0, -1.0]]))
    distances, indices = index.kneighbors(np.array([[1.0, -1.0, -1.0]]), 2)
    np.testing.assert_array_equal(indices, [[0, 1]])  # zero counts as a clear bit
    np.testing.assert_array_equal(distances, [[0.0, 1.0]])
    np.testing.assert_allclose(index.score(distances), [[1.0, 2 / 3]])


def test_hamming_scores_need_a_fitted_index():
    with pytest.raises(ValueError, match="fit"):
        SklearnIndex("hamming").score(np.zeros(2))


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
