"""CodeStore: codes on disk in segments, a SQLite catalogue, exact and compressed search, clustering."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cae_sim.duplicates import duplicate_groups
from cae_sim.index import ExactIndex
from cae_sim.store import CodeStore, store as store_module
from cae_sim.store.search import pq_bytes

WIDTH = 16


def clustered(n: int, width: int = WIDTH, seed: int = 0, clusters: int = 8) -> np.ndarray:
    """Codes around ``clusters`` centres: neighbours that mean something, as real codes have."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, width)) * 3
    return (centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, width))).astype(np.float32)


def low_dimensional(n: int, width: int, seed: int = 0) -> np.ndarray:
    """Codes of a few underlying factors in many values, as an encoder's are: clusters on an 8-d latent space."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(1).standard_normal((8, width))
    latent = rng.standard_normal((30, 8))[rng.integers(0, 30, n)] + 0.5 * rng.standard_normal((n, 8))
    return (np.maximum(latent @ mixing, 0) + 0.05 * rng.standard_normal((n, width))).astype(np.float32)


def names(n: int, start: int = 0, folder: str = "/photos") -> list[str]:
    return [f"{folder}/{i}.jpg" for i in range(start, start + n)]


def brute_force(store_codes: np.ndarray, queries: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest by a plain NumPy computation: (distances, positions)."""
    if metric == "cosine":
        a = store_codes / np.linalg.norm(store_codes, axis=1, keepdims=True)
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        distances = 1 - q @ a.T
    else:
        distances = np.sqrt(((queries[:, None, :] - store_codes[None]) ** 2).sum(-1))
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, 1), order


@pytest.fixture
def store(tmp_path):
    with CodeStore.create(tmp_path / "store", WIDTH, segment_rows=100) as made:
        yield made


# ---------------------------------------------------------------------------- making and opening


def test_create_refuses_a_folder_with_files_and_open_names_what_is_wrong(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="full.*not an empty folder"):
        CodeStore.create(tmp_path / "full", WIDTH)
    with pytest.raises(OSError, match="no store"):
        CodeStore.open(tmp_path / "absent")
    with pytest.raises(ValueError, match="not a cae_sim store"):
        CodeStore.open(tmp_path / "full")
    assert sorted(os.listdir(tmp_path / "full")) == ["photo.jpg"]  # nothing was written into it


@pytest.mark.parametrize("name, value, message", [
    ("width", 0, "width"), ("dtype", "int8", "dtype"), ("metric", "manhattan", "metric"),
    ("segment_rows", 0, "segment_rows"), ("index", "hnsw", "index"),
])
def test_create_checks_each_setting(tmp_path, name, value, message):
    settings_ = {"width": WIDTH} | {name: value}
    with pytest.raises(ValueError, match=message):
        CodeStore.create(tmp_path / "s", **settings_)


def test_a_damaged_catalogue_or_settings_are_named(tmp_path):
    with CodeStore.create(tmp_path / "s", WIDTH) as made, made.catalogue.writing():
        made.catalogue.set(width="wide")
    with pytest.raises(ValueError, match="store .*s' is damaged.*wide"):
        CodeStore.open(tmp_path / "s")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "catalogue.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(ValueError, match="catalogue.sqlite' is not a store's catalogue"):
        CodeStore.open(tmp_path / "t")


def test_a_store_of_a_newer_format_is_refused(tmp_path):
    with CodeStore.create(tmp_path / "s", WIDTH) as made, made.catalogue.writing():
        made.catalogue.set(version=store_module.VERSION + 1)
    with pytest.raises(ValueError, match="format version 2"):
        CodeStore.open(tmp_path / "s")


# ---------------------------------------------------------------------------- adding


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 250), min_size=1, max_size=4), dtype=st.sampled_from(["float16", "float32"]))
def test_codes_come_back_as_added_across_segments_and_reopening(tmp_path_factory, sizes, dtype):
    folder = tmp_path_factory.mktemp("s") / "store"
    codes = clustered(sum(sizes))
    with CodeStore.create(folder, WIDTH, dtype=dtype, segment_rows=100) as made:
        starts = np.cumsum([0, *sizes])
        ids = np.concatenate([made.add(codes[a:b], names(b - a, a)).ids for a, b in zip(starts, starts[1:])])
    expected = codes.astype(dtype).astype(np.float32)
    with CodeStore.open(folder) as opened:
        assert len(opened) == len(codes)
        assert (np.diff(ids) > 0).all()
        order = np.random.default_rng(0).permutation(len(ids))
        assert np.array_equal(opened.codes(ids[order]), expected[order])
        assert opened.paths(ids[order]) == [names(len(codes))[i] for i in order]
        assert max(segment.rows for segment in opened.catalogue.segments()) <= 100


def test_known_paths_and_repeats_are_left_out(store):
    first = store.add(clustered(3), names(3))
    again = store.add(clustered(4, seed=1), ["/photos/1.jpg", "/photos/new.jpg", "/photos/new.jpg", "/photos/2.jpg"])
    assert again.known == ["/photos/1.jpg", "/photos/new.jpg", "/photos/2.jpg"]
    assert len(again.ids) == 1 and again.ids[0] > first.ids.max()
    assert store.paths(again.ids) == ["/photos/new.jpg"]
    assert np.allclose(store.codes(again.ids), clustered(4, seed=1)[1:2], atol=1e-2)  # the first of the repeats


def test_metadata_and_labels_are_kept_in_the_catalogue(store):
    digest = "ab" * 32
    ids = store.add(clustered(2), names(2), metadata={"size": [10, 20], "sha256": [digest, digest]}).ids
    rows = store.catalogue.rows(ids)
    assert [rows[i][2:4] for i in ids] == [(10, digest), (20, digest)]
    assert store.labels()[1].tolist() == [-1, -1]  # not clustered yet


def test_a_file_name_that_is_not_utf8_is_kept_exactly(store):
    odd = os.fsdecode(b"/photos/caf\xe9-\xff.jpg")
    ids = store.add(clustered(1), [odd]).ids
    assert store.paths(ids) == [odd]
    assert store.ids([odd]).tolist() == ids.tolist()


@pytest.mark.parametrize("codes, paths, message", [
    (np.zeros((2, WIDTH + 1), np.float32), names(2), r"\(n, 16\)"),
    (np.zeros((2, WIDTH), np.int64), names(2), "floating-point"),
    (np.zeros((0, WIDTH), np.float32), [], "non-empty"),
    (np.full((2, WIDTH), np.nan, np.float32), names(2), "NaN or infinite values \\(row 0\\)"),
    (np.full((2, WIDTH), np.inf, np.float64), names(2), "NaN or infinite"),
    (np.zeros((2, WIDTH), np.float32), names(3), "2 codes and 3 paths"),
    (np.zeros((2, WIDTH), np.float32), ["/a.jpg", ""], "non-empty strings"),
    (np.zeros((1, WIDTH), np.float32), "/a.jpg", "a list of paths"),
])
def test_bad_codes_or_paths_are_refused_and_nothing_is_added(store, codes, paths, message):
    with pytest.raises(ValueError, match=message):
        store.add(codes, paths)
    assert len(store) == 0 and store.catalogue.segments() == []


@pytest.mark.parametrize("metadata, message", [
    ({"colour": [1, 2]}, "unknown metadata 'colour'"), ({"size": [1]}, "'size' has 1 values for 2 codes"),
    ({"size": [1, -1]}, "ints ≥ 0"), ({"sha256": ["ab", "cd"]}, "64 lower-case hex"),
])
def test_bad_metadata_is_refused(store, metadata, message):
    with pytest.raises(ValueError, match=message):
        store.add(clustered(2), names(2), metadata=metadata)
    assert len(store) == 0


def test_float32_stores_keep_values_beyond_float16_and_float16_stores_refuse_them(tmp_path, store):
    big = np.full((1, WIDTH), 1e6, np.float32)
    assert store.codes(store.add(big, names(1)).ids)[0, 0] == 1e6  # float32, the default
    with CodeStore.create(tmp_path / "half", WIDTH, dtype="float16") as half, pytest.raises(ValueError, match="float16.*dtype='float32'"):
        half.add(big, names(1))


# ---------------------------------------------------------------------------- removing and compacting


def test_removed_images_leave_every_answer_and_their_paths_can_come_back(store):
    codes = clustered(50)
    ids = store.add(codes, names(50)).ids
    gone = store.remove(["/photos/3.jpg", int(ids[7])])
    assert gone.tolist() == [ids[3], ids[7]]
    assert len(store) == 48
    _, found = store.search(codes[[3, 7]], k=48)
    assert not np.isin(found, gone).any() and found.shape == (2, 48)
    with pytest.raises(ValueError, match="not in the store: /photos/3.jpg"):
        store.remove(["/photos/3.jpg"])
    with pytest.raises(ValueError, match="removed"):
        store.codes([ids[3]])
    back = store.add(codes[3:4], ["/photos/3.jpg"])
    assert back.known == [] and back.ids[0] > ids.max()


@pytest.mark.parametrize("images, message", [([], "non-empty"), ("/photos/1.jpg", "non-empty list"), ([10**9], "not in the store: 1000000000")])
def test_remove_names_what_it_cannot_find(store, images, message):
    store.add(clustered(2), names(2))
    with pytest.raises(ValueError, match=message):
        store.remove(images)
    assert len(store) == 2


def test_compact_purges_removed_rows_into_full_segments_and_changes_no_answer(store):
    codes = clustered(330)
    for start in range(0, 330, 30):  # eleven segments of 30 rows
        store.add(codes[start:start + 30], names(30, start))
    store.remove(list(range(0, 330, 3)))
    before = store.search(codes[:20], k=5)
    live = [i for i in range(330) if i % 3]
    assert store.compact() == 110
    segments = store.catalogue.segments()
    assert [segment.rows for segment in segments] == [100, 100, 20]
    assert sorted(os.listdir(store.files.folder)) == sorted(f"{s.number:06d}.{kind}.npy" for s in segments for kind in ("codes", "ids"))
    after = store.search(codes[:20], k=5)
    assert np.array_equal(before[1], after[1]) and np.allclose(before[0], after[0])
    assert np.allclose(store.codes(live), codes[live], atol=2e-2)
    assert store.compact() == 0 and len(store) == 220


def test_files_a_crash_left_unlisted_are_deleted_by_the_next_writer(store):
    store.add(clustered(10), names(10))
    leftover = store.files.path(99, "codes")
    leftover.write_bytes(b"half a segment")
    (store.files.folder / "000099.codes.npy.0123abcd.tmp").write_bytes(b"x")
    assert len(store) == 10  # a reader ignores them
    store.add(clustered(1, seed=2), ["/photos/later.jpg"])
    assert not leftover.exists() and not list(store.files.folder.glob("*.tmp"))


def test_a_segment_file_that_does_not_fit_the_catalogue_is_named(store):
    ids = store.add(clustered(10), names(10)).ids
    np.save(store.files.path(0, "codes"), np.zeros((9, WIDTH), np.float16))
    with CodeStore.open(store.folder) as opened, pytest.raises(ValueError, match=r"000000.codes.npy holds float16 of shape \(9, 16\)"):
        opened.codes(ids)


# ---------------------------------------------------------------------------- searching


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 260), k=st.integers(1, 12), metric=st.sampled_from(["cosine", "euclidean"]), seed=st.integers(0, 99))
def test_exact_search_finds_what_numpy_finds(tmp_path_factory, n, k, metric, seed):
    codes = clustered(n, seed=seed).astype(np.float16).astype(np.float32)
    queries = clustered(3, seed=seed + 1000)
    with CodeStore.create(tmp_path_factory.mktemp("s") / "store", WIDTH, metric=metric, segment_rows=64) as made:
        ids = made.add(codes, names(n)).ids
        distances, found = made.search(queries, k)
    expected_distances, expected = brute_force(codes, queries, min(k, n), metric)
    assert found.shape == (3, min(k, n))
    assert np.allclose(distances, expected_distances, atol=1e-4)
    assert (np.diff(distances, axis=1) >= 0).all()
    ties = np.isclose(distances, expected_distances[:, -1:], atol=1e-4)  # the last place may be a tie
    assert np.array_equal(np.where(ties, 0, found), np.where(ties, 0, ids[expected]))


def test_query_gives_paths_and_scores_best_first(store):
    codes = clustered(40)
    store.add(codes, names(40))
    matches = store.query(codes[5], n=4)
    assert matches[0].path == "/photos/5.jpg" and matches[0].score == pytest.approx(1, abs=1e-3)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    with pytest.raises(ValueError, match="k must be"):
        store.search(codes[:1], 0)


def test_searching_an_empty_store_says_so(store):
    with pytest.raises(ValueError, match="empty"):
        store.search(clustered(1), 3)


def compressed_recall(made: CodeStore, codes: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    exact = CodeStore.open(made.folder)
    exact.index = "exact"
    _, truth = exact.search(queries, k)
    _, found = made.search(queries, k)
    exact.close()
    return np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth)])


def test_the_compressed_search_keeps_its_recall_by_re_ranking(tmp_path):
    width = 64
    codes = low_dimensional(6000, width)
    with CodeStore.create(tmp_path / "s", width, dtype="float16", index="compressed") as made:
        made.add(codes, names(6000))
        made.train_search(sample_size=3000)
        assert made.compressed.code_size() == 1 + pq_bytes(width)  # the list number, then the PQ bytes
        assert sorted(p.name.split(".")[1] for p in made.files.folder.iterdir()) == ["codes", "ids", "pq"]
        assert compressed_recall(made, codes, low_dimensional(50, width, seed=9)) >= 0.95
        made.remove(list(range(0, 6000, 2)))
        _, found = made.search(codes[:20], 10)
        assert (found % 2 == 1).all()
        assert made.compressed.memory_bytes() < 0.5 * codes.nbytes / 2  # float16 codes on disk: 2 bytes a value


def test_auto_trains_the_compressed_search_at_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "COMPRESSED_MIN_CODES", 1000)
    codes = clustered(1200, width=32)
    with CodeStore.create(tmp_path / "s", 32) as made:
        made.add(codes[:900], names(900))
        assert not made._trained()
        made.add(codes[900:], names(300, 900))
        assert made._trained()
        assert all(made.files.path(s.number, "pq").is_file() for s in made.catalogue.segments())
        made.add(codes[:5] + 0.5, names(5, 5000))  # later segments are compressed as they are written
        assert made.files.path(made.catalogue.segments()[-1].number, "pq").is_file()
        assert made.query(codes[1000], 1)[0].path == "/photos/1000.jpg"


@pytest.mark.parametrize("sample_size", [10, 255])
def test_training_needs_enough_codes(store, sample_size):
    store.add(clustered(300), names(300))
    with pytest.raises(ValueError, match="256"):
        store.train_search(sample_size=sample_size)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 999), threshold=st.floats(0.9, 0.999))
def test_duplicates_are_those_of_the_in_memory_search_as_ids(tmp_path_factory, seed, threshold):
    rng = np.random.default_rng(seed)
    codes = clustered(150, seed=seed)
    copies = rng.choice(150, 20)
    codes = np.vstack([codes, codes[copies] + 0.01 * rng.standard_normal((20, WIDTH))]).astype(np.float16).astype(np.float32)
    with CodeStore.create(tmp_path_factory.mktemp("s") / "store", WIDTH, segment_rows=64) as made:
        ids = made.add(codes, names(len(codes))).ids
        made.remove([int(ids[0])])
        found = made.duplicates(threshold)
    kept = np.arange(1, len(codes))
    expected = duplicate_groups(ExactIndex().fit(codes[kept]), codes[kept], threshold)
    assert [group.tolist() for group in found] == [ids[kept[group]].tolist() for group in expected]
    assert len(found) >= 1 or threshold > 0.99


def test_duplicates_checks_its_arguments(store):
    store.add(clustered(3), names(3))
    with pytest.raises(ValueError, match="threshold"):
        store.duplicates(1.5)
    with pytest.raises(ValueError, match="n_neighbors"):
        store.duplicates(0.9, n_neighbors=0)


# ---------------------------------------------------------------------------- clustering


def test_cluster_labels_every_image_and_later_ones_by_the_nearest_centre(store):
    codes = clustered(300, clusters=3, seed=4)
    ids = store.add(codes, names(300)).ids
    centres = store.cluster(3, sample_size=200, random_state=1)
    assert centres.shape == (3, WIDTH)
    found_ids, labels = store.labels()
    assert np.array_equal(found_ids, ids) and set(labels) == {0, 1, 2}
    prepared = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    expected = ((prepared[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    assert (labels == expected).mean() > 0.99  # FAISS' and NumPy's rounding may part on a border
    later = store.add(codes[:10] * 1.001, names(10, 1000)).ids
    assert np.array_equal(store.labels()[1][np.isin(store.labels()[0], later)], expected[:10])


def test_cluster_checks_its_arguments(store):
    store.add(clustered(5), names(5))
    with pytest.raises(ValueError, match="larger than the codes sampled"):
        store.cluster(6)
    with pytest.raises(ValueError, match="n_clusters"):
        store.cluster(0)


# ---------------------------------------------------------------------------- images, through a fitted pipeline


def test_add_images_encodes_files_in_batches_and_keeps_their_metadata(tmp_path, fitted, mixed_folder):
    from cae_sim._files import file_sha256

    folder, good, bad = mixed_folder
    width = fitted.codes_.shape[1]
    with CodeStore.create(tmp_path / "s", width) as made, pytest.warns(UserWarning, match="skipped"):
        stored = made.add_images(fitted, folder, batch_size=4)
    with CodeStore.open(tmp_path / "s") as made:
        assert set(stored.paths) == good and {path for path, _ in stored.skipped} >= bad
        assert np.allclose(made.codes(stored.ids), fitted.transform(stored.paths), atol=1e-5)
        rows = made.catalogue.rows(stored.ids)
        first = stored.paths[0]
        assert rows[int(stored.ids[0])][2:4] == (os.path.getsize(first), file_sha256(first))
        with pytest.warns(UserWarning):
            again = made.add_images(fitted, folder)
        assert len(again.ids) == 0 and set(again.known) == good
        with pytest.raises(ValueError, match="not an array"):
            made.add_images(fitted, np.zeros((2, 8, 8, 3), np.uint8))


def test_add_images_refuses_a_pipeline_of_another_width(tmp_path, fitted, data_dir):
    with CodeStore.create(tmp_path / "s", fitted.codes_.shape[1] + 1) as made, pytest.raises(ValueError, match=r"\(n, "):
        made.add_images(fitted, data_dir)
    assert len(CodeStore.open(tmp_path / "s")) == 0
