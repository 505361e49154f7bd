"""cae_sim.distributed: encoding files on a Dask cluster, in shards that a later run resumes from.

Most of the logic (partitions, shards, resuming, the worker's encoder cache) is
checked in this process through a client that runs each task at once; the
tests marked slow start one real cluster of two worker processes (each loads
TensorFlow) and share it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import psutil
import pytest

from cae_sim import Pipeline
from cae_sim import distributed as dist
from conftest import InProcessClient


class RefusingClient:
    """A client that fails the test if anything is submitted."""

    def submit(self, *args, **kwargs):
        raise AssertionError("a task was submitted before the arguments were checked")

    gather = submit


@pytest.fixture(scope="module")
def saves(tmp_path_factory, data_dir) -> dict[str, Path]:
    """Saves fitted on data/: perceptual hashes (no training) and a tiny trained autoencoder."""
    root = tmp_path_factory.mktemp("saves")
    settings = {
        "dhash": dict(encoder="dhash", n_clusters=2),
        "phash": dict(encoder="phash", n_clusters=2),
        "cae": dict(encoder="cae", n_clusters=2, image_size=16, code_size=4, epochs=1, random_state=0),
    }
    saves = {}
    for name, params in settings.items():
        Pipeline(**params).fit(data_dir).save(root / name)
        saves[name] = root / name
    return saves


@pytest.fixture(scope="module")
def paths(data_dir, tmp_path_factory) -> list[str]:
    """data/'s 12 photos, with a file that is not an image at position 3 and a missing one at 9."""
    broken = tmp_path_factory.mktemp("broken") / "broken.jpg"
    broken.write_text("not an image")
    photos = sorted(str(path) for path in data_dir.glob("*.jpg"))
    assert len(photos) == 12
    return photos[:3] + [str(broken)] + photos[3:8] + [str(broken.with_name("missing.jpg"))] + photos[8:]


@pytest.fixture(autouse=True)
def empty_encoder_cache(monkeypatch):
    """Each test starts with no encoder loaded in this process."""
    monkeypatch.setattr(dist, "_encoders", OrderedDict())


def local_result(model_dir, paths):
    """What Pipeline.transform_readable gives, as (codes, kept positions, skipped)."""
    codes, kept_paths, skipped = Pipeline.load(model_dir).transform_readable(paths)
    where = {path: i for i, path in enumerate(paths)}
    return codes, [where[path] for path in kept_paths], skipped


def assert_same(result, expected):
    codes, kept, skipped = result
    assert codes.dtype == np.float32
    np.testing.assert_allclose(codes, expected[0], atol=1e-5)
    assert kept == expected[1]
    assert skipped == expected[2]


def shard_files(shard_dir: Path) -> dict[str, int]:
    """Each file of the shard folder with its modification time (ns)."""
    return {path.name: path.stat().st_mtime_ns for path in shard_dir.iterdir()}


# ---------------------------------------------------------------------- in this process


@pytest.mark.parametrize("partition_size", [1, 5, 100])
def test_codes_kept_and_skipped_equal_the_local_ones(saves, paths, tmp_path, partition_size):
    client = InProcessClient()
    result = dist.encode_files(saves["dhash"], paths, client, tmp_path / "shards", partition_size=partition_size)
    assert_same(result, local_result(saves["dhash"], paths))
    assert result[1] == [i for i in range(len(paths)) if i not in (3, 9)]
    assert [path for path, _ in result[2]] == [paths[3], paths[9]]
    n_partitions = -(-len(paths) // partition_size)
    assert len(client.submitted) == n_partitions
    names = sorted(os.listdir(tmp_path / "shards"))
    assert len(names) == 2 * n_partitions and not [name for name in names if name.endswith(".tmp")]
    assert sum(name.endswith(".json") for name in names) == n_partitions


def test_a_shard_holds_its_codes_and_global_positions(saves, paths, tmp_path):
    dist.encode_files(saves["dhash"], paths, InProcessClient(), tmp_path, partition_size=5)
    second = sorted(tmp_path.glob("part-000001-*.json"))
    assert len(second) == 1
    described = json.loads(second[0].read_text())
    assert described["kept"] == [5, 6, 7, 8] and described["skipped"][0][0] == paths[9]
    codes = np.load(second[0].with_suffix(".npy"))
    assert codes.shape == (4, 64) and codes.dtype == np.float32


def test_nothing_readable_gives_no_codes(saves, paths, tmp_path):
    codes, kept, skipped = dist.encode_files(saves["dhash"], [paths[3], paths[9]], InProcessClient(), tmp_path, partition_size=1)
    assert codes is None and kept == []
    assert [path for path, _ in skipped] == [paths[3], paths[9]]


def test_a_run_resumes_from_the_complete_shards(saves, paths, tmp_path):
    first = dist.encode_files(saves["dhash"], paths, InProcessClient(), tmp_path, partition_size=5)
    before = shard_files(tmp_path)
    (doomed,) = tmp_path.glob("part-000001-*.json")
    doomed.unlink()  # as if the run had crashed before this shard was complete
    (damaged,) = tmp_path.glob("part-000002-*.json")
    damaged.write_text("{")  # an unreadable marker is no shard either

    client = InProcessClient()
    again = dist.encode_files(saves["dhash"], paths, client, tmp_path, partition_size=5)
    assert client.starts() == [5, 10]
    after = shard_files(tmp_path)
    assert after.keys() == before.keys()
    unchanged = [name for name in before if name.startswith("part-000000-")]
    assert len(unchanged) == 2 and all(after[name] == before[name] for name in unchanged)
    assert_same(again, first)

    client = InProcessClient()
    assert_same(dist.encode_files(saves["dhash"], paths, client, tmp_path, partition_size=5), first)
    assert client.submitted == []  # everything is there now


def test_a_damaged_shard_is_reported_by_name(saves, paths, tmp_path):
    dist.encode_files(saves["dhash"], paths, InProcessClient(), tmp_path, partition_size=5)
    (codes,) = tmp_path.glob("part-000001-*.npy")
    codes.write_bytes(codes.read_bytes()[:100])
    with pytest.raises(ValueError, match=f"damaged shard '{codes.name}'.*delete it"):
        dist.encode_files(saves["dhash"], paths, InProcessClient(), tmp_path, partition_size=5)


def test_shards_of_another_partitioning_or_model_are_not_taken(saves, paths, tmp_path):
    dist.encode_files(saves["dhash"], paths, InProcessClient(), tmp_path, partition_size=5)
    client = InProcessClient()
    result = dist.encode_files(saves["dhash"], paths, client, tmp_path, partition_size=4)
    assert client.starts() == [0, 4, 8, 12]
    assert_same(result, local_result(saves["dhash"], paths))

    client = InProcessClient()
    result = dist.encode_files(saves["phash"], paths, client, tmp_path, partition_size=5)
    assert client.starts() == [0, 5, 10]
    assert_same(result, local_result(saves["phash"], paths))


def test_a_worker_loads_each_model_once(saves, paths, tmp_path, monkeypatch):
    loads = []
    load = dist._load_checked_encoder
    monkeypatch.setattr(dist, "_load_checked_encoder", lambda *args: loads.append(args) or load(*args))
    dist.encode_files(saves["dhash"], paths, InProcessClient(), tmp_path / "a", partition_size=3)
    dist.encode_files(saves["dhash"], paths, InProcessClient(), tmp_path / "b", partition_size=7)
    dist.encode_files(saves["phash"], paths, InProcessClient(), tmp_path / "c", partition_size=7)
    assert [os.path.basename(model_dir) for model_dir, _ in loads] == ["dhash", "phash"]


def test_a_worker_refuses_a_save_whose_encoder_changed(saves):
    with pytest.raises(ValueError, match="changed while"):
        dist._worker_encoder(str(saves["dhash"]), "0" * 64)
    assert not dist._encoders


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(paths=[]), ValueError, "paths is empty"),
        (dict(paths="photo.jpg"), ValueError, "list of image files"),
        (dict(paths=["a.jpg", 3]), ValueError, "got 3"),
        (dict(partition_size=0), ValueError, "partition_size must be an int >= 1, got 0"),
        (dict(partition_size=2.5), ValueError, "partition_size .* got 2.5"),
        (dict(n_jobs=0), ValueError, "n_jobs .* got 0"),
        (dict(model_dir="missing"), OSError, "no such save directory: .*missing"),
        (dict(model_dir="not_a_save"), ValueError, "not_a_save.* is not a cae_sim save"),
        (dict(shard_dir="a_file/shards"), OSError, "cannot create shard_dir .*a_file/shards"),
    ],
)
def test_bad_arguments_raise_before_anything_is_submitted(saves, paths, tmp_path, change, error, message):
    (tmp_path / "not_a_save").mkdir()
    (tmp_path / "not_a_save" / "notes.txt").write_text("hello")
    (tmp_path / "a_file").write_text("a file, not a folder")
    arguments = dict(model_dir=saves["dhash"], paths=paths, shard_dir="shards", partition_size=5, n_jobs=1) | change
    for key in ("model_dir", "shard_dir"):
        if isinstance(arguments[key], str):
            arguments[key] = tmp_path / arguments[key]
    with pytest.raises(error, match=message):
        dist.encode_files(arguments.pop("model_dir"), arguments.pop("paths"), RefusingClient(), arguments.pop("shard_dir"), **arguments)
    assert not (tmp_path / "shards").exists() or change.get("shard_dir")


def test_an_unwritable_shard_dir_is_refused(saves, paths, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match="cannot write into shard_dir .*locked"):
        dist.encode_files(saves["dhash"], paths, RefusingClient(), locked)


def test_cluster_arguments_are_checked():
    with pytest.raises(ValueError, match="n_workers must be an int >= 1, got 0"):
        with dist.local_client(0):
            pass
    with pytest.raises(ValueError, match="address .* got ''"):
        dist.connect("")


@pytest.mark.slow
def test_a_local_cluster_listens_on_127_0_0_1_only_and_never_on_the_dashboard_port():
    with warnings.catch_warnings(record=True) as caught, dist.local_client(n_workers=1) as client:
        warnings.simplefilter("always")
        processes = [psutil.Process()] + psutil.Process().children(recursive=True)
        listening = [c.laddr for p in processes for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert {address.ip for address in listening} == {"127.0.0.1"}
        assert 8787 not in {address.port for address in listening}
    # where 8787 is taken, Dask moves the dashboard's port with this warning
    assert not [w for w in caught if "8787" in str(w.message)]


# ---------------------------------------------------------------------- on a cluster of two worker processes


@pytest.fixture(scope="module")
def client():
    with dist.local_client(n_workers=2) as client:
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("model", ["dhash", "cae"])
def test_the_cluster_encodes_as_the_pipeline_does(client, saves, paths, tmp_path, model):
    result = dist.encode_files(saves[model], paths, client, tmp_path, partition_size=5)
    assert_same(result, local_result(saves[model], paths))
    loaded = client.run(lambda: [os.path.basename(model_dir) for model_dir, _ in dist._encoders])
    assert len(loaded) == 2
    assert any(model in names for names in loaded.values())  # kept in the worker process for its next tasks


@pytest.mark.slow
def test_a_killed_workers_partition_is_retried(client, saves, paths, tmp_path, monkeypatch):
    marker = tmp_path / "killed-once"

    def dies_the_first_time(*args):
        from cae_sim import distributed  # on the worker: the real task

        start = args[3]
        if start == 5 and not marker.exists():  # the second partition, the first time it runs
            marker.touch()
            os._exit(1)
        return distributed._encode_partition(*args)

    monkeypatch.setattr(dist, "_encode_partition", dies_the_first_time)
    result = dist.encode_files(saves["cae"], paths, client, tmp_path / "shards", partition_size=5)
    assert marker.exists()  # a worker did die
    assert_same(result, local_result(saves["cae"], paths))
    assert len(list((tmp_path / "shards").glob("*.json"))) == 3


@pytest.mark.slow
def test_the_cluster_resumes_from_the_complete_shards(client, saves, paths, tmp_path):
    first = dist.encode_files(saves["dhash"], paths, client, tmp_path, partition_size=5)
    before = shard_files(tmp_path)
    for path in tmp_path.glob("part-000001-*"):
        path.unlink()
    again = dist.encode_files(saves["dhash"], paths, client, tmp_path, partition_size=5)
    after = shard_files(tmp_path)
    assert after.keys() == before.keys()
    changed = sorted(name for name in before if after[name] != before[name])
    assert len(changed) == 2 and all(name.startswith("part-000001-") for name in changed)
    assert_same(again, first)
