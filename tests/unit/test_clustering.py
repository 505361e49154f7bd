import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from cae_sim import KMeansClustering, Pipeline
from cae_sim.clustering import CLUSTERINGS, Clustering, ManifoldClustering
from cae_sim.metrics import clustering_accuracy
from cae_sim.plots import map_coordinates
from conftest import smooth_image


def blobs(n_blobs: int, per_blob: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (n_blobs, 5))
    return np.concatenate([c + rng.normal(0, 0.3, (per_blob, 5)) for c in centres]).astype(np.float32)


@pytest.mark.parametrize("k", [2, 4, 6])
def test_auto_finds_the_number_of_well_separated_blobs(k):
    clustering = KMeansClustering(random_state=0, k_range=(2, 8)).fit(blobs(k))
    assert clustering.n_clusters_ == k
    assert max(clustering.scores_, key=clustering.scores_.get) == k
    assert set(clustering.scores_) == set(range(2, 9))


@pytest.mark.parametrize("verbose", [0, 1])
def test_a_verbose_auto_k_shows_a_line_a_quarter_of_the_k_tried_and_a_quiet_one_nothing(verbose, capsys):
    clustering = KMeansClustering(random_state=0, k_range=(2, 9), n_init=1, verbose=verbose).fit(blobs(3))
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith("choosing k ") for line in lines)  # off a terminal: whole lines, no carriage returns
    assert [line.split()[2] for line in lines][-1:] == (["8/8"] if verbose else []) and len(lines) <= 4 * verbose
    assert sorted(clustering.scores_) == list(range(2, 10))


@given(st.integers(1, 6), st.integers(0, 2**16))
def test_labels_and_centres_have_consistent_shapes(k, seed):
    codes = blobs(3, per_blob=4, seed=seed)
    clustering = KMeansClustering(n_clusters=k, random_state=0, n_init=1).fit(codes)
    assert clustering.labels_.shape == (12,)
    assert clustering.labels_.min() >= 0 and clustering.labels_.max() < k
    assert clustering.cluster_centers_.shape == (k, 5) and clustering.cluster_centers_.dtype == np.float32
    np.testing.assert_array_equal(clustering.predict(codes), clustering.labels_)


def test_transform_gives_distance_to_each_centre():
    codes = blobs(3)
    clustering = KMeansClustering(n_clusters=3, random_state=0).fit(codes)
    expected = np.linalg.norm(codes[:, None, :] - clustering.cluster_centers_[None], axis=2)
    np.testing.assert_allclose(clustering.transform(codes), expected, rtol=1e-4, atol=1e-4)


def test_auto_with_two_codes_uses_one_cluster():
    clustering = KMeansClustering(random_state=0).fit(np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert clustering.n_clusters_ == 1 and clustering.scores_ == {}


@pytest.mark.parametrize(
    "params, codes, message",
    [
        ({"n_clusters": 100}, blobs(2), "larger than the number of images"),
        ({"n_clusters": "many"}, blobs(2), "'auto' or an int"),
        ({"n_clusters": 0}, blobs(2), "n_clusters"),
        ({"k_range": (5, 3)}, blobs(2), "k_range"),
        ({"k_range": (1, 3)}, blobs(2), "k_range"),
        ({}, np.full((4, 2), np.nan), "NaN"),
        ({}, np.zeros(4), "2D array"),
    ],
)
def test_bad_input_is_named(params, codes, message):
    with pytest.raises(ValueError, match=message):
        KMeansClustering(**params).fit(codes)


def test_predict_before_fit_and_wrong_width():
    with pytest.raises(NotFittedError):
        KMeansClustering().predict(blobs(2))
    clustering = KMeansClustering(n_clusters=2, random_state=0).fit(blobs(2))
    with pytest.raises(ValueError, match="3 features, but KMeansClustering is expecting 5"):
        clustering.predict(np.zeros((1, 3)))


@pytest.fixture(scope="module")
def manifold_blobs():
    codes = blobs(4, per_blob=60, seed=3)
    return codes, ManifoldClustering(random_state=0).fit(codes)


@pytest.mark.slow
def test_manifold_clustering_finds_the_blobs(manifold_blobs):
    codes, clustering = manifold_blobs
    truth = np.repeat(np.arange(4), 60)
    assert clustering.n_clusters_ == 4
    assert clustering_accuracy(truth, clustering.labels_) == 1.0
    assert clustering.embedding_.shape == (240, 10) and clustering.cluster_centers_.shape == (4, 10)


@pytest.mark.slow
def test_manifold_predicts_fitted_codes_as_fitted_and_new_codes_near_their_blob(manifold_blobs):
    codes, clustering = manifold_blobs
    np.testing.assert_array_equal(clustering.predict(codes), clustering.labels_)
    nudged = codes[::60] + 0.05
    np.testing.assert_array_equal(clustering.predict(nudged), clustering.labels_[::60])
    assert clustering.transform(codes[:3]).shape == (3, 4)


@pytest.mark.slow
def test_manifold_keeps_the_places_of_fitted_codes_and_places_codes_after_them_by_their_neighbours(manifold_blobs):
    codes, clustering = manifold_blobs
    new = codes[::30] + 0.05
    np.testing.assert_array_equal(clustering.embed(codes), clustering.embedding_)
    placed = clustering.embed(np.concatenate([codes, new]))  # a pipeline's codes_ after add
    np.testing.assert_array_equal(placed[: len(codes)], clustering.embedding_)
    np.testing.assert_allclose(placed[len(codes) :], clustering.embed(new), rtol=1e-6)
    # out of order they are placed by their neighbours, themselves first among them: the same places, nearly
    np.testing.assert_allclose(clustering.embed(codes[::-1])[::-1], clustering.embedding_, atol=1e-3)


@pytest.mark.slow
def test_manifold_state_restores_the_same_estimator(manifold_blobs):
    codes, clustering = manifold_blobs
    restored = ManifoldClustering(**clustering.get_params()).restore(clustering.state(), clustering.scores_)
    np.testing.assert_array_equal(restored.labels_, clustering.labels_)
    np.testing.assert_array_equal(restored.predict(codes[:20] + 0.01), clustering.predict(codes[:20] + 0.01))


def test_manifold_rejects_too_few_codes():
    with pytest.raises(ValueError, match="at least 4"):
        ManifoldClustering().fit(np.eye(3))


@pytest.mark.slow
def test_manifold_restore_refuses_codes_that_are_not_the_fitted_ones(manifold_blobs):
    codes, clustering = manifold_blobs
    with pytest.raises(ValueError, match="239 fitted codes for an embedding of 240"):
        ManifoldClustering().restore({**clustering.state(), "fitted_codes": codes[1:]}, clustering.scores_)


def test_kmeans_state_restores_the_same_estimator():
    codes = blobs(3)
    clustering = KMeansClustering(n_clusters=3, random_state=0).fit(codes)
    restored = KMeansClustering().restore(clustering.state(), clustering.scores_)
    np.testing.assert_array_equal(restored.predict(codes), clustering.predict(codes))
    assert restored.n_features_in_ == 5 and restored.n_clusters_ == 3


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "manifold" else n for n in sorted(CLUSTERINGS)])
def test_every_registered_clustering_implements_the_interface(name):
    cls = CLUSTERINGS[name]
    assert issubclass(cls, Clustering)
    codes = blobs(3, per_blob=10)
    clustering = cls(n_clusters=3, random_state=0)
    assert clustering.fit(codes, y=None) is clustering
    assert clustering.labels_.dtype == np.int64 and clustering.labels_.shape == (30,)
    distances = clustering.transform(codes)
    assert distances.dtype == np.float32 and distances.shape == (30, clustering.n_clusters_)
    np.testing.assert_array_equal(clustering.predict(codes), distances.argmin(axis=1))
    restored = cls(**clustering.get_params()).restore(clustering.state(), clustering.scores_)
    np.testing.assert_array_equal(restored.predict(codes), clustering.predict(codes))
    prepared = clustering.prepare(codes, "cosine")
    unit = np.allclose(np.linalg.norm(prepared, axis=1), 1, atol=1e-5)
    assert unit == cls.wants_unit_codes
    np.testing.assert_array_equal(clustering.prepare(codes, "euclidean"), codes)


@pytest.mark.slow
@parametrize_with_checks(
    [KMeansClustering(n_clusters=3, n_init=2, random_state=0), ManifoldClustering(n_clusters=3, n_init=1, random_state=0)]
)
def test_scikit_learn_conventions(estimator, check):
    check(estimator)


# ------------------------------------------------------------ in a pipeline: every test that fits UMAP is in this
# module, so that numba compiles UMAP once in a run (a module's tests run in one process, pyproject.toml's addopts)


@pytest.mark.slow
@pytest.mark.parametrize(
    "encoder, clustering, learned",
    [("cae", "kmeans", lambda p: p.codes_), ("dhash", "manifold", lambda p: p.clustering_.embedding_)],  # the hash learns nothing
)
def test_a_seeded_pipeline_repeats_itself_and_another_seed_does_not(encoder, clustering, learned):
    images = np.stack([smooth_image(i, 16, 16) for i in range(24)])
    params = dict(encoder=encoder, n_clusters=3, clustering=clustering, n_jobs=1)
    if encoder == "cae":
        params.update(epochs=2, image_size=16, code_size=4)
    first, second = (Pipeline(random_state=7, **params).fit(images) for _ in range(2))
    np.testing.assert_array_equal(learned(first), learned(second))
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)
    assert first.query(images[5], n=6) == second.query(images[5], n=6)
    other = Pipeline(random_state=8, **params).fit(images)
    assert not np.array_equal(learned(other), learned(first))


@pytest.mark.slow
def test_manifold_clustering_in_a_pipeline_survives_a_save(tmp_path):
    images = np.stack([smooth_image(i % 3, 16, 16) + (i // 3 % 5) for i in range(60)]).astype(np.uint8)
    pipeline = Pipeline(encoder="cae", n_clusters=3, clustering="manifold", epochs=1, image_size=16, random_state=0).fit(images)
    assert pipeline.clustering_.embedding_.shape[0] == 60
    pipeline.save(tmp_path / "m")
    loaded = Pipeline.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.labels_, pipeline.labels_)
    np.testing.assert_array_equal(loaded.predict(images[:10]), pipeline.predict(images[:10]))
    np.testing.assert_allclose(loaded.distance_to_center(), pipeline.distance_to_center(), rtol=1e-5)


@pytest.mark.parametrize("clustering", ["kmeans", pytest.param("manifold", marks=pytest.mark.slow)])
def test_above_the_sample_size_the_clustering_fits_a_sample_and_predicts_the_rest(tmp_path, clustering):
    images = np.stack([smooth_image(i % 3, 16, 16) + (i // 3 % 7) for i in range(60)]).astype(np.uint8)
    params = dict(encoder="dhash", n_clusters=3, clustering=clustering, random_state=0)
    sampled = Pipeline(cluster_sample_size=20, **params).fit(images)
    assert len(sampled.clustering_.labels_) == 20 and len(sampled.labels_) == 60
    np.testing.assert_array_equal(sampled.labels_, sampled.clustering_.predict(sampled.clustering_.prepare(sampled.codes_, "cosine")))
    sampled.save(tmp_path / "model")
    loaded = Pipeline.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.labels_, sampled.labels_)
    np.testing.assert_array_equal(loaded.predict(images[:5]), sampled.predict(images[:5]))
    whole = Pipeline(**params).fit(images)
    assert len(whole.clustering_.labels_) == 60


@pytest.mark.slow
def test_map_coordinates_of_a_fitted_manifold_pipeline_come_from_its_umap_embedding():
    pipeline = Pipeline(encoder="dhash", clustering="manifold", n_clusters=2, random_state=0).fit(np.stack([smooth_image(seed, 12, 12) for seed in range(20)]))
    np.testing.assert_allclose(map_coordinates(pipeline), PCA(2).fit_transform(pipeline.clustering_.embedding_), atol=1e-5)


@pytest.mark.slow
def test_a_verbose_manifold_clustering_shows_the_embedding_and_the_k_tried(capsys):
    codes = blobs(3, per_blob=10)
    ManifoldClustering(random_state=0, verbose=1).fit(codes)
    bars = [line.split(" [")[0].rsplit(" ", 1)[0] for line in capsys.readouterr().err.splitlines() if "/s" in line]
    titles = list(dict.fromkeys(bars))  # the first import of umap may write TensorFlow's lines too: bars only
    assert titles == ["embedding with UMAP", "choosing k"]
