import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn.neighbors import NearestNeighbors

from cae_sim import ExactIndex
from cae_sim.index import EXACT_BLOCK_VALUES, INDEXES, FaissIndex
from cae_sim.codes import l2_normalize


def distinct_codes():
    """(n, d) float32 codes with well separated rows (so the nearest of each row is itself)."""
    return st.tuples(st.integers(2, 30), st.integers(2, 8), st.integers(0, 2**16)).map(
        lambda a: np.random.default_rng(a[2]).normal(size=(a[0], a[1])).astype(np.float32)
    )


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@given(codes=distinct_codes())
def test_each_code_is_its_own_nearest_neighbour(metric, codes):
    distances, indices = ExactIndex(metric).fit(codes).kneighbors(codes, 1)
    np.testing.assert_array_equal(indices[:, 0], np.arange(len(codes)))
    np.testing.assert_allclose(distances[:, 0], 0, atol=1e-3)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "hamming"])
@given(codes=distinct_codes(), k=st.integers(1, 40))
def test_results_come_nearest_first_and_scores_best_first(metric, codes, k):
    index = ExactIndex(metric).fit(codes)
    distances, indices = index.kneighbors(codes[:3], k)
    assert distances.shape == indices.shape == (min(3, len(codes)), min(k, len(codes)))
    assert (np.diff(distances, axis=1) >= -1e-6).all()
    assert (np.diff(index.score(distances), axis=1) <= 1e-6).all()


@given(codes=distinct_codes())
def test_cosine_distances_match_numpy(codes):
    index = ExactIndex("cosine").fit(codes)
    distances, indices = index.kneighbors(codes[:1], len(codes))
    unit = l2_normalize(codes)
    expected = 1 - unit[indices[0]] @ unit[0]
    np.testing.assert_allclose(distances[0], expected, atol=1e-4)
    np.testing.assert_allclose(index.score(distances[0]), unit[indices[0]] @ unit[0], atol=1e-4)


@given(arrays(np.float32, (4, 3), elements=st.floats(-100, 100, width=32)))
def test_distance_of_paired_rows(codes):
    index = ExactIndex("euclidean").fit(codes)
    np.testing.assert_allclose(index.distance(codes, codes[::-1]), np.linalg.norm(codes - codes[::-1], axis=1), rtol=1e-5, atol=1e-3)


def test_cosine_ignores_length():
    index = ExactIndex("cosine").fit(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert index.score(index.distance(np.array([[3.0, 0.0]]), np.array([[0.5, 0.0]])))[0] == pytest.approx(1.0)
    assert index.score(index.distance(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])))[0] == pytest.approx(0.0)


def test_asking_for_more_neighbours_than_codes_returns_all():
    codes = np.eye(3, dtype=np.float32)
    distances, indices = ExactIndex().fit(codes).kneighbors(codes[:1], 10)
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
    index = ExactIndex("hamming").fit(codes * scale)  # only the signs count
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
    index = ExactIndex("hamming").fit(codes)
    distances = index.distance(codes, codes[::-1])
    np.testing.assert_array_equal(distances, count_differing_signs(codes, codes[::-1]))
    assert distances.dtype == np.float32


@given(codes=sign_codes())
def test_cosine_ranks_sign_codes_as_hamming_does(codes):
    n_bits = codes.shape[1]
    cosine = ExactIndex("cosine").fit(codes)
    hamming = ExactIndex("hamming").fit(codes)
    cosine_distances, cosine_indices = cosine.kneighbors(codes, len(codes))
    hamming_distances, _ = hamming.kneighbors(codes, len(codes))
    # cosine similarity of ±1 codes is 1 − 2·hamming / n_bits: the same ranking, up to the order of ties
    np.testing.assert_allclose(cosine_distances * n_bits / 2, hamming_distances, atol=1e-3)
    exact = count_differing_signs(codes[:, None], codes[None])
    np.testing.assert_array_equal(np.take_along_axis(exact, cosine_indices, axis=1), hamming_distances)
    np.testing.assert_allclose(cosine.score(cosine_distances), 1 - 2 * hamming_distances / n_bits, atol=1e-5)


def test_hamming_binarises_by_sign():
    index = ExactIndex("hamming").fit(np.array([[0.5, -2.0, 0.0], [3.0, 1.0, -1.0]]))
    distances, indices = index.kneighbors(np.array([[1.0, -1.0, -1.0]]), 2)
    np.testing.assert_array_equal(indices, [[0, 1]])  # zero counts as a clear bit
    np.testing.assert_array_equal(distances, [[0.0, 1.0]])
    np.testing.assert_allclose(index.score(distances), [[1.0, 2 / 3]])


def test_hamming_scores_need_a_fitted_index():
    with pytest.raises(ValueError, match="fit"):
        ExactIndex("hamming").score(np.zeros(2))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="metric"):
        ExactIndex("manhattan").fit(np.eye(2))
    index = ExactIndex()
    with pytest.raises(ValueError, match="fit"):
        index.kneighbors(np.zeros((1, 2)))
    index.fit(np.eye(2))
    with pytest.raises(ValueError, match="n_neighbors"):
        index.kneighbors(np.zeros((1, 2)), 0)
    with pytest.raises(ValueError, match="2 features"):
        index.kneighbors(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        index.kneighbors(np.full((1, 2), np.nan))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@given(codes=distinct_codes(), k=st.integers(1, 10))
def test_exact_search_agrees_with_scikit_learn(metric, codes, k):
    index = ExactIndex(metric).fit(codes)
    distances, positions = index.kneighbors(codes[:4], k)
    prepared = index._prepare(codes)
    expected_distances, expected = NearestNeighbors().fit(prepared).kneighbors(prepared[:4], min(k, len(codes)))
    np.testing.assert_array_equal(positions, expected)
    np.testing.assert_allclose(index.score(distances), index.score(index._from_squared(expected_distances**2)), atol=1e-4)


def clustered_codes(n=3000, d=16, seed=0):
    """Codes in 30 blobs, as real codes are, not spread uniformly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (30, d))
    return (centres[rng.integers(0, 30, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "faiss-ivfpq" else n for n in sorted(INDEXES)])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_every_index_finds_the_exact_neighbours_or_nearly(name, metric):
    codes = clustered_codes()
    exact = ExactIndex(metric).fit(codes)
    index = INDEXES[name](metric=metric).fit(codes)
    assert len(index) == len(codes) and index.metric == metric
    _, expected = exact.kneighbors(codes[:200], 10)
    distances, found = index.kneighbors(codes[:200], 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, expected)])
    assert recall >= {"exact": 1.0, "faiss-flat": 1.0, "faiss-ivfpq": 0.7}.get(name, 0.9)  # PQ keeps 4 bytes of 16 values
    assert (np.diff(distances, axis=1) >= -1e-5).all()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "faiss-ivf" else n
                                  for n in sorted(set(INDEXES) - {"faiss-ivfpq"})])  # PQ needs 256 codes; tested below
@given(removed=st.lists(st.integers(0, 59), min_size=1, max_size=40, unique=True), seed=st.integers(0, 100))
def test_removing_and_adding_keeps_positions_as_a_list_would(name, removed, seed):
    codes = np.random.default_rng(seed).normal(size=(60, 8)).astype(np.float32) * 10
    index = INDEXES[name](metric="euclidean", **({} if name == "exact" else {"random_state": 0})).fit(codes)
    index.remove(removed)
    kept = np.delete(codes, removed, axis=0)
    assert len(index) == len(kept)
    np.testing.assert_array_equal(index.kneighbors(kept, 1)[1][:, 0], np.arange(len(kept)))
    index.add(codes[removed])
    assert len(index) == 60
    np.testing.assert_array_equal(index.kneighbors(codes[removed], 1)[1][:, 0], np.arange(len(kept), 60))


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_a_saved_index_answers_as_before(name):
    codes = clustered_codes(n=800)
    index = INDEXES[name](metric="cosine").fit(codes)
    index.remove([3, 5])
    live = np.delete(codes, [3, 5], axis=0)
    restored = type(index)(**index.get_params()).restore(index.state(), live)
    for got, expected in zip(restored.kneighbors(codes[:50], 5), index.kneighbors(codes[:50], 5)):
        np.testing.assert_array_equal(got, expected)


def test_bad_positions_and_removing_everything_are_refused():
    index = ExactIndex().fit(np.eye(3))
    for positions, message in [([3], "position 3 is out of range: there are 3 codes"), ([-1], "position -1"), ([], "non-empty"), (["a"], "ints")]:
        with pytest.raises(ValueError, match=message):
            index.remove(positions)
    with pytest.raises(ValueError, match="cannot remove every code"):
        index.remove([0, 1, 2])
    with pytest.raises(ValueError, match="kind must be one of"):
        FaissIndex(kind="LSH").fit(np.eye(3))


@pytest.mark.parametrize("kind, message", [("IVF", "'lists' must be integer of shape \\(799,\\)"),
                                           ("IVFPQ", "'lists' must be integer of shape \\(799,\\)"),
                                           ("HNSW", "'levels' must be integer of shape \\(799,\\)")])
def test_a_faiss_index_that_does_not_hold_the_codes_is_refused(kind, message):
    codes = clustered_codes(n=800)
    index = FaissIndex(kind=kind, n_lists=8).fit(codes)
    with pytest.raises(ValueError, match=message):
        FaissIndex(kind=kind, n_lists=8).restore(index.state(), codes[:799])


@pytest.mark.parametrize("kind", ["IVF", "IVFPQ"])
def test_a_row_the_probed_lists_cannot_fill_is_searched_in_every_list(kind):
    # 8 lists of about 50 codes, one visited: FAISS alone pads 200 neighbours with id -1
    codes = clustered_codes(n=400)
    index = FaissIndex(kind=kind, n_lists=8, n_probe=1, pq_m=4).fit(codes)
    assert (index.index_.search(index._prepare(codes[:3]), 200)[1] == -1).any()
    distances, positions = index.kneighbors(codes[:3], 200)
    assert positions.shape == (3, 200) and np.isfinite(distances).all()
    assert all(len(set(row)) == 200 and row.min() >= 0 and row.max() < 400 for row in positions)
    assert (np.diff(distances, axis=1) >= -1e-5).all()
    if kind == "IVF":
        _, expected = ExactIndex().fit(codes).kneighbors(codes[:3], 200)
        assert all(set(row) == set(exact) for row, exact in zip(positions, expected))
    index.remove(list(range(100)))  # the removed are left out of the search in every list too
    positions = index.kneighbors(codes[100:103], 300)[1]
    assert positions.shape == (3, 300) and all(sorted(row) == list(range(300)) for row in positions)


def test_an_hnsw_row_short_of_neighbours_is_searched_over_every_code():
    codes = clustered_codes(n=400)
    index = FaissIndex(kind="HNSW", hnsw_m=4, ef_search=1).fit(codes)
    index.remove(list(range(0, 90)))  # marked removed: the graph still leads to them, the search leaves them out
    positions = index.kneighbors(codes[90:95], 310)[1]
    assert positions.shape == (5, 310) and all(sorted(row) == list(range(310)) for row in positions)


def test_a_compressed_index_keeps_positions_through_removal_and_addition():
    codes = clustered_codes(n=1200, d=32)
    index = INDEXES["faiss-ivfpq"](metric="euclidean").fit(codes)
    assert index.index_.code_size == 8  # bytes a code: 32 values in 8 sub-vectors of 8 bits
    index.remove(list(range(100)))
    kept = codes[100:]
    found = index.kneighbors(kept, 5)[1]
    assert found.max() < len(kept)
    assert np.mean([i in row for i, row in enumerate(found)]) >= 0.9  # each code's own position, among its 5 nearest
    index.add(codes[:100])
    found = index.kneighbors(codes[:100], 5)[1]
    assert np.mean([1100 + i in row for i, row in enumerate(found)]) >= 0.9


@pytest.mark.parametrize("pq_m, n, message", [(5, 300, "pq_m must divide the codes' width 32"), (None, 100, "at least 256 codes")])
def test_a_compressed_index_refuses_what_it_cannot_train(pq_m, n, message):
    with pytest.raises(ValueError, match=message):
        FaissIndex(kind="IVFPQ", pq_m=pq_m).fit(clustered_codes(n=n, d=32))


def test_near_ties_of_the_matrix_product_are_settled_by_exact_distances():
    # two codes 1e-7 apart in angle: float32's a² + b² − 2ab cannot tell them from each other
    codes = np.array([[1.0, 0.0], [0.3, 2.0], [np.cos(1e-7), np.sin(1e-7)], [-1.0, 0.5]], np.float32) * np.float32(7.3)
    for metric in ("cosine", "euclidean"):
        _, nearest = ExactIndex(metric).fit(codes).kneighbors(codes, 1)
        np.testing.assert_array_equal(nearest[:, 0], np.arange(4))


@pytest.mark.slow
def test_exact_search_memory_stays_within_its_blocks_however_many_neighbours_are_asked():
    # Every neighbour of 400 wide codes: measured all at once, the exact re-measuring alone would hold
    # 400 × 400 × 2,048 float32 values (1.3 GB); in blocks it holds a few 64 MiB blocks at most.
    codes = np.random.default_rng(0).normal(size=(400, 2048)).astype(np.float32)
    index = ExactIndex().fit(codes)
    tracemalloc.start()
    distances, positions = index.kneighbors(codes, 400)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * EXACT_BLOCK_VALUES * 4
    assert (positions[:, 0] == np.arange(400)).all() and (np.diff(distances, axis=1) >= 0).all()
