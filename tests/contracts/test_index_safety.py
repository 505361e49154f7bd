"""A saved FAISS index is rebuilt from checked plain arrays: a crafted save cannot make FAISS open a file, crash,
allocate beyond its arrays, or answer with padding (issue 23, findings 1, 6 and 7)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cae_sim import Pipeline
from cae_sim.index import FaissIndex

#: Builds an IVF index whose inverted lists live in a file (FAISS' OnDiskInvertedLists), serialised by FAISS with
#: the name of ``victim`` in it: what a crafted save of format 1 or of format 2 before plain arrays could hold.
ON_DISK_LISTS = """
import faiss, numpy as np

def on_disk_lists(codes, victim):
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(codes.shape[1]), codes.shape[1], 4)
    index.train(codes)
    decoy = victim[:-1] + "_"  # the same length: the name is swapped in the serialised bytes
    lists = faiss.OnDiskInvertedLists(4, index.code_size, decoy)
    index.replace_invlists(lists, False)  # the index does not own them: ``lists`` must outlive it here
    index.add(codes)
    data = faiss.serialize_index(index).tobytes().replace(decoy.encode(), victim.encode())
    return np.frombuffer(data, np.uint8)
"""


def run_python(code: str, *args) -> subprocess.CompletedProcess:
    """Run ``code`` in a child Python: FAISS reading a crafted index may crash the process."""
    return subprocess.run([sys.executable, "-c", ON_DISK_LISTS + textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_an_index_whose_lists_name_a_file_never_opens_it(tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"v" * 76_000)
    result = run_python("""
        import sys
        from cae_sim.index import FaissIndex
        codes = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)
        arrays = {"faiss": on_disk_lists(codes[:200], sys.argv[1]), "ids": np.arange(200)}
        index = FaissIndex(kind="IVF", n_lists=4).restore(arrays, codes[:200])
        index.add(codes[200:])
        distances, positions = index.kneighbors(codes, 5)
        assert np.isfinite(distances).all() and (positions[:, 0] == np.arange(400)).all()
    """, victim)
    assert result.returncode == 0, result.stderr[-2000:]
    assert victim.read_bytes() == b"v" * 76_000


@pytest.mark.slow
def test_a_crafted_save_with_on_disk_lists_loads_and_adds_without_touching_the_named_file(tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"v" * 76_000)
    result = run_python("""
        import sys
        from pathlib import Path
        from cae_sim import Pipeline
        from cae_sim.persistence.manifest import MANIFEST, describe_files, read_manifest, write_manifest
        save, victim = sys.argv[1:]
        images = np.random.default_rng(0).integers(0, 255, (120, 16, 16, 3), dtype=np.uint8)
        fitted = Pipeline(encoder="dhash", n_clusters=2, index="faiss-ivf", random_state=0).fit(images[:80])
        fitted.save(save)
        for old in Path(save, "index").iterdir():
            old.unlink()
        np.save(f"{save}/index/faiss.npy", on_disk_lists(fitted.codes_, victim))
        np.save(f"{save}/index/ids.npy", np.arange(80))
        manifest = read_manifest(Path(save))
        manifest["files"] = describe_files(Path(save))
        write_manifest(Path(save), manifest)
        loaded = Pipeline.load(save)
        loaded.add(images[80:])
        matches = loaded.query(images[100], n=5)
        assert matches[0].index == 100 and all(match.index >= 0 and np.isfinite(match.score) for match in matches)
    """, tmp_path / "model", victim)
    assert result.returncode == 0, result.stderr[-2000:]
    assert victim.read_bytes() == b"v" * 76_000


def saved_state(kind: str, n: int = 400):
    codes = np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32)
    index = FaissIndex(kind=kind, n_lists=8, hnsw_m=4).fit(codes)
    return index.state(), codes


def _hnsw_link_to_a_lower_level(arrays):
    """Point a link on level 1 at a code that is on level 0 only."""
    import faiss

    levels, neighbors = arrays["levels"], arrays["neighbors"].copy()
    graph = faiss.IndexHNSWFlat(16, 4)
    per_level = faiss.vector_to_array(graph.hnsw.cum_nneighbor_per_level)  # a node's links up to each level
    node = int(np.flatnonzero(levels >= 2)[0])
    neighbors[np.cumsum(np.concatenate([[0], per_level[levels]]))[node] + per_level[1]] = int(np.flatnonzero(levels == 1)[0])
    return arrays | {"neighbors": neighbors}


@pytest.mark.parametrize("kind, change, message", [
    ("IVF", lambda a: a | {"lists": a["lists"][::-1] + 8}, r"lists of the codes must lie in \[0, 8\)"),
    ("IVF", lambda a: a | {"lists": a["lists"] - 1}, r"lists of the codes must lie in \[0, 8\)"),
    ("IVF", lambda a: a | {"lists": a["lists"].astype(np.float32)}, "'lists' must be integer"),
    ("IVF", lambda a: a | {"lists": a["lists"][:-1]}, r"'lists' must be integer of shape \(400,\)"),
    ("IVF", lambda a: a | {"centroids": a["centroids"][:, :8]}, r"'centroids' must be floating of shape \(None, 16\)"),
    ("IVF", lambda a: a | {"centroids": a["centroids"][:4]}, "4 centroids, its n_lists is 8"),
    ("IVF", lambda a: a | {"centroids": np.full_like(a["centroids"], np.nan)}, "'centroids' holds NaN or inf"),
    ("IVF", lambda a: {"centroids": a["centroids"]}, r"a saved IVF index has the arrays \['centroids', 'lists'\]"),
    ("IVF", lambda a: a | {"invlists": np.zeros(3)}, "a saved IVF index has the arrays"),
    ("IVFPQ", lambda a: a | {"pq_centroids": a["pq_centroids"][:, :16]}, "'pq_centroids' must be floating of shape"),
    ("IVFPQ", lambda a: a | {"pq_centroids": a["pq_centroids"].reshape(2, 256, 8)[:, :, :7]}, "must split the codes' width 16"),
    ("HNSW", lambda a: a | {"levels": a["levels"] + 20}, r"HNSW levels must lie in \[1, \d+\], got 21"),
    ("HNSW", lambda a: a | {"levels": a["levels"] + (np.arange(400) == 0)}, r"'neighbors' must be integer of shape \(\d+,\)"),
    ("HNSW", lambda a: a | {"neighbors": np.where(a["neighbors"] >= 0, a["neighbors"] + 400, -1)}, r"links must lie in \[-1, 400\)"),
    ("HNSW", lambda a: a | {"neighbors": np.full_like(a["neighbors"], -2)}, r"links must lie in \[-1, 400\)"),
    ("HNSW", lambda a: a | {"entry_point": np.array(400)}, "entry point 400 is not a code on the top level"),
    ("HNSW", lambda a: a | {"entry_point": np.array(int(np.argmin(a["levels"])))}, "is not a code on the top level"),
    ("HNSW", _hnsw_link_to_a_lower_level, "links level 1 to codes not on it"),
])
def test_saved_arrays_that_do_not_fit_the_codes_are_refused_before_faiss_builds(kind, change, message):
    arrays, codes = saved_state(kind)
    with pytest.raises(ValueError, match=message):
        FaissIndex(kind=kind, n_lists=8, hnsw_m=4).restore(change(arrays), codes)


@pytest.mark.parametrize("kind", ["Flat", "IVF", pytest.param("IVFPQ", marks=pytest.mark.slow), "HNSW"])
def test_a_save_of_faiss_serialised_bytes_is_fitted_anew_on_its_codes(kind):
    import faiss

    codes = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)
    fitted = FaissIndex(kind=kind, n_lists=8).fit(codes)
    garbage = np.frombuffer(b"IwFl" + b"\xff" * 60, np.uint8)  # FAISS would read a huge list count here
    for serialised in (faiss.serialize_index(fitted.index_), garbage):
        restored = FaissIndex(kind=kind, n_lists=8).restore({"faiss": serialised, "ids": np.arange(400)}, codes)
        for got, expected in zip(restored.kneighbors(codes[:20], 5), fitted.kneighbors(codes[:20], 5)):
            np.testing.assert_array_equal(got, expected)


def test_a_faiss_file_that_declares_a_gigabyte_makes_nothing_allocate_it():
    result = run_python("""
        import resource
        from cae_sim.index import FaissIndex
        codes = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)
        flat = faiss.IndexFlatL2(16)
        flat.add(codes)
        data = bytearray(faiss.serialize_index(flat).tobytes())
        data[37:45] = np.uint64(2**28).tobytes()  # the length of the codes: 2^28 floats (1 GiB), in a 25 KB file
        mapped = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (mapped + 2**29, mapped + 2**29))  # 512 MiB more than now
        arrays = {"faiss": np.frombuffer(bytes(data), np.uint8), "ids": np.arange(400)}
        restored = FaissIndex(kind="Flat").restore(arrays, codes)
        assert (restored.kneighbors(codes, 1)[1][:, 0] == np.arange(400)).all()
    """)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("ids, message", [(np.arange(400)[::-1], "ascending"), (np.arange(399), "400 ascending ids"),
                                          (np.arange(-1, 399), "ascending ids >= 0"), (None, "one for each code")])
def test_the_ids_of_a_faiss_serialised_save_must_be_one_ascending_id_a_code(ids, message):
    codes = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)
    arrays = {"faiss": np.zeros(8, np.uint8)} | ({} if ids is None else {"ids": ids})
    with pytest.raises(ValueError, match=message):
        FaissIndex(kind="Flat").restore(arrays, codes)


OVERSIZED = [
    ({"kind": "HNSW", "hnsw_m": 2**20}, "hnsw_m must be at most 256"),
    ({"kind": "HNSW", "ef_construction": 2**40}, "ef_construction must be at most 65536"),
    ({"kind": "HNSW", "ef_search": 2**40}, "ef_search must be at most 65536"),
    ({"kind": "IVF", "n_lists": 2**40}, "n_lists must be at most the number of codes"),
    ({"kind": "IVF", "random_state": 2**40}, "random_state must be at most"),
    ({"kind": "IVF", "n_probe": 0}, "n_probe must be an int >= 1"),
    ({"kind": "IVFPQ", "pq_m": 2**40}, "pq_m must divide the codes' width 16"),
]


@pytest.fixture(scope="module")
def oversized_fits() -> tuple[subprocess.CompletedProcess, list[str]]:
    """One child (2 GiB of address space) fits every oversized case in turn: a line per case, its error or 'fitted'."""
    # before the checks, FAISS tried to allocate these and died or hung; one child for all saves 7 starts of Python
    result = run_python(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
        from cae_sim.index import FaissIndex
        codes = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
        for params in {[params for params, _ in OVERSIZED]!r}:
            try:
                FaissIndex(**params).fit(codes)
                print("fitted", flush=True)
            except ValueError as error:
                print(str(error).replace("\\n", " "), flush=True)
    """)
    return result, result.stdout.splitlines()


@pytest.mark.parametrize("case", range(len(OVERSIZED)), ids=[message for _, message in OVERSIZED])
def test_parameters_that_would_allocate_beyond_the_codes_are_refused_before_building(oversized_fits, case):
    result, lines = oversized_fits
    message = OVERSIZED[case][1]
    assert result.returncode == 0 and len(lines) == len(OVERSIZED) and message in lines[case], result.stdout + result.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["IVF", "IVFPQ"])
def test_a_query_returns_only_real_matches_where_the_probed_lists_are_short(kind):
    # 400 images in 8 lists, 1 visited: FAISS alone padded 141 of 200 answers with id -1 (score -inf)
    images = np.random.default_rng(0).integers(0, 255, (400, 16, 16, 3), dtype=np.uint8)
    pipeline = Pipeline(encoder="dhash", n_clusters=2, random_state=0,
                        index=FaissIndex(kind=kind, n_lists=8, n_probe=1, pq_m=8)).fit(images)
    matches = pipeline.query(images[0], n=200)
    assert len(matches) == 200 and len({match.index for match in matches}) == 200
    assert all(match.index >= 0 and np.isfinite(match.score) for match in matches)
    distances, positions = pipeline.kneighbors(images[:5], n_neighbors=200)
    assert positions.shape == (5, 200) and positions.min() >= 0 and np.isfinite(distances).all()


@pytest.mark.parametrize("index", ["faiss-flat", "faiss-ivf", "faiss-ivfpq", "faiss-hnsw"])
@pytest.mark.slow
def test_a_saved_faiss_index_is_plain_arrays_and_answers_as_before(index, tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (300, 16, 16, 3), dtype=np.uint8)
    fitted = Pipeline(encoder="dhash", n_clusters=2, index=index, random_state=0).fit(images)
    fitted.remove([7, 11])
    fitted.save(tmp_path / "model")
    saved = {path.name: np.load(path, allow_pickle=False) for path in (tmp_path / "model" / "index").glob("*")}
    kind = fitted.index_.kind
    assert sorted(saved) == sorted(f"{name}.npy" for name in FaissIndex.STATE[kind])
    assert all(array.dtype.kind in "iuf" for array in saved.values())
    loaded = Pipeline.load(tmp_path / "model")
    loaded.verify()
    for got, expected in zip(loaded.kneighbors(images[:20], n_neighbors=5), fitted.kneighbors(images[:20], n_neighbors=5)):
        np.testing.assert_array_equal(got, expected)
