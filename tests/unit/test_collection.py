"""A collection that changes: Pipeline.add and Pipeline.remove, saves after them, and the Collection on its own."""

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cae_sim import Collection, Pipeline, SkippedImagesWarning
from cae_sim.index import ExactIndex
from conftest import write_image, smooth_image


@pytest.fixture(scope="module")
def folders(tmp_path_factory, data_dir):
    """data/'s photos split into a first folder and a later one, plus a broken file in the later one."""
    root = tmp_path_factory.mktemp("collection")
    first, later = root / "first", root / "later"
    first.mkdir(), later.mkdir()
    photos = sorted(data_dir.glob("*.jpg"))
    for photo in photos[:8]:
        shutil.copy(photo, first)
    for photo in photos[8:]:
        shutil.copy(photo, later)
    (later / "broken.jpg").write_bytes(b"not a jpeg")
    return first, later


def fitted_on(folder):
    return Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(folder)


def test_added_images_are_encoded_clustered_indexed_and_reported(folders):
    first, later = folders
    pipeline = fitted_on(first)
    with pytest.warns(SkippedImagesWarning, match="broken.jpg"):
        added = pipeline.add(later)
    assert added.positions.tolist() == list(range(8, 12)) and added.known == []
    assert added.skipped == [(str(later / "broken.jpg"), added.skipped[0][1])]
    assert pipeline.paths_[8:] == added.paths == sorted(str(p) for p in later.glob("*.jpg") if p.name != "broken.jpg")
    new_codes = pipeline.transform(added.paths)
    np.testing.assert_array_equal(pipeline.codes_[8:], new_codes)
    np.testing.assert_array_equal(pipeline.labels_[8:], pipeline.predict(added.paths))
    assert [match.path for match in pipeline.query(added.paths[0], n=1)] == [added.paths[0]]
    assert pipeline.skipped_[-1][0] == str(later / "broken.jpg")


def test_files_already_in_the_collection_are_left_out_and_listed(folders):
    first, later = folders
    pipeline = fitted_on(first)
    again = sorted(str(p) for p in first.glob("*.jpg"))[:2]
    new = str(sorted(p for p in later.glob("*.jpg") if p.name != "broken.jpg")[0])
    added = pipeline.add(again + [new, new])
    assert added.paths == [new] and added.known == [*again, new]
    assert len(pipeline.codes_) == 9 and pipeline.paths_[-1] == new


def test_removed_images_leave_every_array_and_the_index(folders):
    first, _ = folders
    pipeline = fitted_on(first)
    before_codes, before_paths = pipeline.codes_.copy(), list(pipeline.paths_)
    pipeline.remove([before_paths[1], before_paths[5]])
    kept = [i for i in range(8) if i not in (1, 5)]
    assert pipeline.paths_ == [before_paths[i] for i in kept]
    np.testing.assert_array_equal(pipeline.codes_, before_codes[kept])
    assert len(pipeline.labels_) == 6 and len(pipeline.index_) == 6
    assert before_paths[1] not in [match.path for match in pipeline.query(before_paths[1], n=6)]


@pytest.mark.parametrize(
    "images, message",
    [
        (["nowhere.jpg"], "not in the collection: nowhere.jpg"),
        ([8], "position 8 is out of range"),
        ([], "non-empty"),
        ("a.jpg", "list of paths or positions"),
        (list(range(8)), "cannot remove all 8 images"),
        ([0, "a.jpg"], "list of ints"),
    ],
)
def test_removing_what_is_not_there_is_refused(folders, images, message):
    pipeline = fitted_on(folders[0])
    with pytest.raises(ValueError, match=message):
        pipeline.remove(images)
    assert len(pipeline.codes_) == 8


def test_files_and_arrays_do_not_mix(folders):
    with pytest.raises(ValueError, match="came from files: add files too"):
        fitted_on(folders[0]).add(np.zeros((2, 16, 16, 3), np.uint8))
    on_array = Pipeline(encoder="dhash", n_clusters=2).fit(np.stack([smooth_image(i, 16, 16) for i in range(4)]))
    with pytest.raises(ValueError, match="came from an array: add an array too"):
        on_array.add(folders[1])
    with pytest.raises(ValueError, match="remove images by position"):
        on_array.remove(["a.jpg"])


@pytest.mark.parametrize("index", ["exact", "faiss-hnsw"])
def test_a_save_after_add_and_remove_round_trips(folders, tmp_path, index):
    first, later = folders
    pipeline = Pipeline(encoder="dhash", n_clusters=2, index=index, random_state=0).fit(first)
    with pytest.warns(SkippedImagesWarning):
        pipeline.add(later)
    pipeline.remove([0, 3])
    pipeline.save(tmp_path / "model")
    loaded = Pipeline.load(tmp_path / "model")
    assert loaded.paths_ == pipeline.paths_ and loaded.skipped_ == pipeline.skipped_
    np.testing.assert_array_equal(loaded.codes_, pipeline.codes_)
    np.testing.assert_array_equal(loaded.labels_, pipeline.labels_)
    assert type(loaded.index_) is type(pipeline.index_) and len(loaded.index_) == 10
    query = pipeline.paths_[4]
    assert loaded.query(query, n=4) == pipeline.query(query, n=4)


def test_index_auto_is_exact_for_small_sets_and_faiss_ivf_for_large_ones(folders, monkeypatch):
    from cae_sim.index import ExactIndex, FaissIndex

    assert type(fitted_on(folders[0]).index_) is ExactIndex
    monkeypatch.setattr("cae_sim.defaults.AUTO_FAISS_MIN_CODES", 5)
    index = fitted_on(folders[0]).index_
    assert type(index) is FaissIndex and index.kind == "IVF"


def test_an_index_object_is_cloned_with_the_pipelines_metric(folders):
    from cae_sim.index import FaissIndex

    given = FaissIndex(kind="Flat")
    pipeline = Pipeline(encoder="dhash", n_clusters=2, metric="euclidean", index=given).fit(folders[0])
    assert pipeline.index_ is not given and pipeline.index_.metric == "euclidean" and not hasattr(given, "index_")
    exact = Pipeline(encoder="dhash", n_clusters=2, metric="euclidean", index="exact").fit(folders[0])
    query = pipeline.paths_[2]
    np.testing.assert_allclose([m.score for m in pipeline.query(query, n=8)], [m.score for m in exact.query(query, n=8)], rtol=1e-5)


# ---------------------------------------------------------------- the Collection on its own: arrays in, arrays out


def random_collection(n: int, d: int = 8, seed: int = 0, paths: bool = True) -> Collection:
    codes = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    names = [f"/images/{i}.jpg" for i in range(n)] if paths else None
    return Collection(codes, np.arange(n) % 3, names, index=ExactIndex().fit(codes))


def brute_force(codes: np.ndarray, queries: np.ndarray) -> np.ndarray:
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    return np.argsort(-(queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T, axis=1, kind="stable")


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 40), k=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_kneighbors_of_the_collection_leaves_each_image_out_of_its_own(n, k, seed):
    collection = random_collection(n, seed=seed)
    distances, positions = collection.kneighbors(None, k)
    expected = [[j for j in row if j != i][: min(k, n - 1)] for i, row in enumerate(brute_force(collection.codes, collection.codes))]
    np.testing.assert_array_equal(positions, expected)
    assert distances.shape == positions.shape and np.all(np.diff(distances, axis=1) >= -1e-6)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 30), k=st.integers(1, 10), seed=st.integers(0, 2**16), data=st.data())
def test_a_query_leaves_out_exactly_the_positions_asked(n, k, seed, data):
    collection = random_collection(n, seed=seed)
    left_out = data.draw(st.sets(st.integers(0, n - 1), max_size=n - 1))
    query = np.random.default_rng(seed + 1).standard_normal((1, 8)).astype(np.float32)
    matches = collection.query(query, k, exclude=sorted(left_out))
    expected = [j for j in brute_force(collection.codes, query)[0] if j not in left_out][:k]
    assert [m.index for m in matches] == expected and [m.path for m in matches] == [f"/images/{j}.jpg" for j in expected]
    assert all(a.score >= b.score - 1e-6 for a, b in zip(matches, matches[1:]))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 20), added=st.integers(1, 10), data=st.data())
def test_add_then_remove_keeps_codes_labels_paths_and_index_in_step(n, added, data):
    collection = random_collection(n)
    new = np.random.default_rng(1).standard_normal((added, 8)).astype(np.float32)
    positions = collection.add(new, np.zeros(added, int), [f"/new/{i}.jpg" for i in range(added)])
    np.testing.assert_array_equal(positions, np.arange(n, n + added))
    gone = sorted(data.draw(st.sets(st.integers(0, n + added - 1), min_size=1, max_size=n + added - 1)))
    kept = [i for i in range(n + added) if i not in gone]
    before_codes, before_paths = collection.codes.copy(), list(collection.paths)
    np.testing.assert_array_equal(collection.remove(gone), gone)
    np.testing.assert_array_equal(collection.codes, before_codes[kept])
    assert collection.paths == [before_paths[i] for i in kept] and len(collection.labels) == len(collection.index) == len(kept)
    assert collection.query(before_codes[kept[0]][np.newaxis], 1)[0].index == 0


def test_a_collection_refuses_what_does_not_fit(tmp_path):
    collection = random_collection(4)
    with pytest.raises(ValueError, match="disagree in length"):
        Collection(collection.codes, np.zeros(3, int), None, index=collection.index)
    with pytest.raises(ValueError, match="must have 8 features, got 5"):
        collection.add(np.zeros((1, 5), np.float32), [0], ["/x.jpg"])
    with pytest.raises(ValueError, match="hold NaN"):
        collection.add(np.full((1, 8), np.nan, np.float32), [0], ["/x.jpg"])
    with pytest.raises(ValueError, match="came from files: add files too"):
        collection.add(np.ones((1, 8), np.float32), [0])
    with pytest.raises(ValueError, match="codes must be a float32 array"):
        Collection(np.zeros((2, 2), np.float64), np.zeros(2, int), None, index=collection.index)
    with pytest.raises(ValueError, match="not in the collection: /elsewhere.jpg"):
        collection.remove(["/elsewhere.jpg"])


def test_split_known_makes_paths_absolute_and_keeps_each_new_file_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    collection = Collection(np.ones((1, 2), np.float32), [0], [str(tmp_path / "a.jpg")],
                            index=ExactIndex().fit(np.ones((1, 2), np.float32)))
    new, known = collection.split_known(["a.jpg", "b.jpg", str(tmp_path / "b.jpg")], ["a.jpg", "b.jpg", str(tmp_path / "b.jpg")])
    assert new == [str(tmp_path / "b.jpg")] and known == [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]


def test_a_collection_reads_a_lazy_index_once_on_first_use():
    codes = np.eye(3, dtype=np.float32)
    built = []
    collection = Collection(codes, [0, 1, 2], None, index=lambda: built.append(1) or ExactIndex().fit(codes))
    assert built == [] and len(collection) == 3
    assert collection.duplicates(0.99) == [] and collection.kneighbors(None, 1)[1].shape == (3, 1)
    assert built == [1]
