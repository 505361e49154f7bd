"""Encode many image files on a Dask cluster, in shards that survive a crash.

Encoding is the expensive part of adding images to a collection, and each
image is encoded on its own, so it spreads over machines::

    from cae_sim.distributed import encode_files, local_client

    with local_client(n_workers=4) as client:
        codes, kept, skipped = encode_files("model/", paths, client, "shards/")

How it works
------------
``encode_files`` splits ``paths`` into partitions of ``partition_size`` files.
Each partition is one Dask task: on its worker it gets the encoder of the save
at ``model_dir`` (loaded from disk once per worker process and model, then kept
in a small module-level cache), reads the partition's files in batches with
``cae_sim.images.iter_batches`` (unreadable files are skipped and reported as
``(path, reason)``, as ``Pipeline.transform_readable`` does), encodes them and
writes a *shard* into ``shard_dir``:

- ``part-NNNNNN-IDENTITY.npy``: the codes, float32, one row per readable file;
- ``part-NNNNNN-IDENTITY.json``: the positions in ``paths`` of those files and
  the skipped ones. It is written last, so its presence marks the shard complete.

Both files are written to a temporary name and renamed into place. The task
returns the JSON's name; the driver reads the shards in partition order and
concatenates them. ``IDENTITY`` is a hash of the encoder (the sha256 of its
files in the save's manifest, and its parameters), the partition's first
position and its paths, so a partition whose shard is already complete is not
submitted again: a run that crashed half-way through a million images restarts
from its last finished shards, and a shard made with another encoder or another
partitioning is never taken by mistake.

What a worker needs
-------------------
In memory: one fitted encoder (its weights; TensorFlow for one on Keras), the codes of one
partition (``partition_size`` × code length × 4 bytes) and a few batches of
decoded images at the encoder's ``image_size`` (up to ``PREFETCH_BATCHES`` + 1
batches of ``READ_BATCH_SIZE`` images of ``image_size``² × 3 bytes, and the
encoder's own working memory for one batch), never the whole partition's
pixels. A worker keeps up to ``ENCODER_CACHE_SIZE`` encoders of different saves.

On disk: the same files as the driver, at the same paths: the images, the save
at ``model_dir`` and ``shard_dir`` (made absolute by the driver), so a shared
filesystem for a real cluster. Workers open the image paths as given: give
absolute ones to a real cluster.

Workers started by ``local_client`` silence TensorFlow's and LiteRT's start-up
lines and tune malloc as the commands do; start the workers of a real cluster
with ``dask worker tcp://HOST:8786 --preload cae_sim.distributed`` for the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from distributed import Client, LocalCluster

from ._checks import check_int
from ._files import write_atomically

if TYPE_CHECKING:
    from .encoders import Encoder
    from .model import Model

#: How many encoders a worker process keeps loaded (the most recently used).
ENCODER_CACHE_SIZE = 4
#: Format name written into each shard's JSON.
SHARD_FORMAT = "cae_sim.shard"
#: The only interface a local cluster listens on.
LOOPBACK = "127.0.0.1"

# One worker process's loaded encoders, by (resolved save directory, encoder digest), most recent last.
_encoders: OrderedDict[tuple[str, str], "Encoder"] = OrderedDict()
_encoders_lock = threading.Lock()


# ---------------------------------------------------------------------- the driver


def encode_files(
    model_dir: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    client: Client,
    shard_dir: str | os.PathLike,
    *,
    partition_size: int = 1000,
    n_jobs: int = 1,
) -> tuple[np.ndarray | None, list[int], list[tuple[str, str]]]:
    """Encode image files with the encoder of a save, one Dask task per partition of files.

    Parameters
    ----------
    model_dir : str or path-like
        A directory written by ``Pipeline.save``; only its encoder is used.
    paths : sequence of str or path-like
        The image files, opened by the workers as given.
    client : distributed.Client
        The cluster to run on (``local_client`` or ``connect``).
    shard_dir : str or path-like
        Where the shards are written (created if missing). Shards already
        complete there for the same encoder and partitions are reused.
    partition_size : int, default=1000
        Files per task.
    n_jobs : int, default=1
        Threads decoding images inside each task (-1: one per core of the
        worker's machine); 1 suits one single-threaded worker per core.

    Returns
    -------
    codes : ndarray of shape (n_read, d), float32, or None if no file could be read
    kept : list of int
        Position in ``paths`` of each row of ``codes``, ascending.
    skipped : list of (str, str)
        Unreadable files and why, in the order of ``paths``.

    Raises
    ------
    ValueError
        If ``paths`` is empty or not a list of paths, ``partition_size`` < 1,
        ``n_jobs`` is 0, ``model_dir`` is not a cae_sim save (or is damaged),
        or a shard read back is damaged.
    OSError
        If ``model_dir`` does not exist or ``shard_dir`` cannot be created or
        written to. Every check is made before any task is submitted.
    """
    paths = _check_paths(paths)
    check_int("partition_size", partition_size)
    _check_n_jobs(n_jobs)
    model_dir = os.path.abspath(model_dir)
    digest = _model_digest(model_dir)
    shard_dir = _prepare_shard_dir(shard_dir)

    names: list[str | None] = []
    futures = {}
    for index, (start, part) in enumerate(_partitions(paths, partition_size)):
        identity = _partition_identity(digest, start, part)
        name = _shard_name(index, identity)
        if _is_complete(shard_dir, name, identity):
            names.append(name)
            continue
        names.append(None)
        futures[index] = client.submit(
            _encode_partition, model_dir, digest, part, start, shard_dir, name, identity, n_jobs, pure=False
        )
    for index, name in zip(futures, client.gather(list(futures.values()))):
        names[index] = name
    return _read_shards(shard_dir, names)


def encode_on_cluster(model: "Model", paths: list[str], client: Client, model_dir: str | os.PathLike | None
                      ) -> tuple[np.ndarray | None, list[str], list[tuple[str, str]]]:
    """Encode files on a cluster whose workers load the encoder of the save at ``model_dir``, which must be
    ``model``'s: what ``Pipeline.add(..., client=...)`` runs.

    The shards are kept in ``<model_dir>.add-shards/`` until every file is encoded, so an interrupted add
    resumes where it stopped.

    Returns
    -------
    codes : ndarray of shape (n_read, d), float32, or None if no file could be read
    paths : list of str
        The file of each row of ``codes``.
    skipped : list of (str, str)

    Raises
    ------
    ValueError
        If ``model_dir`` is None, or its save holds another encoder than ``model``'s.
    """
    if model_dir is None:
        raise ValueError("add(..., client=...) needs model_dir: a save of this pipeline that the workers can read")
    shard_dir = os.path.abspath(model_dir).rstrip(os.sep) + ".add-shards"
    codes, kept, skipped = encode_files(model_dir, list(paths), client, shard_dir, n_jobs=1)
    if codes is not None and not np.allclose(model.transform([paths[kept[0]]]), codes[:1], rtol=1e-4, atol=1e-5):
        raise ValueError(f"the save {os.fspath(model_dir)!r} holds another encoder than this pipeline's")
    shutil.rmtree(shard_dir, ignore_errors=True)
    return codes, [paths[i] for i in kept], skipped


def _check_paths(paths) -> list[str]:
    if isinstance(paths, (str, bytes, os.PathLike)) or not isinstance(paths, Sequence):
        raise ValueError(f"paths must be a list of image files, got {type(paths).__name__} {paths!r:.80}")
    if not paths:
        raise ValueError("paths is empty: there is nothing to encode")
    bad = [path for path in paths if not isinstance(path, (str, os.PathLike))]
    if bad:
        raise ValueError(f"paths must be str or path-like, got {bad[0]!r:.80} ({type(bad[0]).__name__})")
    return [os.fspath(path) for path in paths]


def _check_n_jobs(n_jobs) -> None:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero int (-1: one per core), got {n_jobs!r}")


def _model_digest(model_dir: str) -> str:
    """Check that ``model_dir`` is a save with an intact encoder; return the encoder's digest."""
    from .persistence import checked_save  # TensorFlow is imported on first use, not with this module

    _, manifest = checked_save(model_dir, prefix="encoder/")
    return _encoder_digest(manifest)


def _encoder_digest(manifest: dict) -> str:
    """The sha256 of a save's encoder: its name, parameters and the sha256 of each of its files."""
    from ._json import to_json

    files = {name: entry["sha256"] for name, entry in manifest["files"].items() if name.startswith("encoder/")}
    described = {"encoder": manifest["model"]["encoder"], "files": files}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=to_json).encode()).hexdigest()


def _prepare_shard_dir(shard_dir: str | os.PathLike) -> str:
    """Create ``shard_dir`` if needed; raise OSError naming it if it cannot be created or written."""
    folder = os.path.abspath(shard_dir)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise OSError(error.errno, f"cannot create shard_dir {os.fspath(shard_dir)!r}: {error.strerror or error}") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write into shard_dir {os.fspath(shard_dir)!r}")
    return folder


def _partitions(paths: list[str], size: int) -> Iterator[tuple[int, list[str]]]:
    """Yield (first position, paths) of each partition of ``size`` paths."""
    for start in range(0, len(paths), size):
        yield start, paths[start : start + size]


def _partition_identity(digest: str, start: int, paths: list[str]) -> str:
    """The sha256 naming one partition's work: the encoder, where the partition starts, its files."""
    return hashlib.sha256(json.dumps([digest, start, paths]).encode()).hexdigest()


def _shard_name(index: int, identity: str) -> str:
    """The file name of a shard's JSON (its codes are the same name ending in .npy)."""
    return f"part-{index:06d}-{identity[:16]}.json"


def _is_complete(shard_dir: str, name: str, identity: str) -> bool:
    """Whether a shard's JSON is there, readable, for this identity, and its codes beside it."""
    try:
        with open(os.path.join(shard_dir, name), encoding="utf-8") as file:
            described = json.load(file)
    except (OSError, ValueError):
        return False
    return (
        isinstance(described, dict)
        and described.get("identity") == identity
        and os.path.isfile(os.path.join(shard_dir, _codes_name(name)))
    )


def _codes_name(name: str) -> str:
    return name.removesuffix(".json") + ".npy"


def _read_shards(shard_dir: str, names: list[str]) -> tuple[np.ndarray | None, list[int], list[tuple[str, str]]]:
    """Concatenate the shards, in partition order, into (codes or None, kept positions, skipped)."""
    codes, kept, skipped = [], [], []
    for name in names:
        described = _read_shard_json(shard_dir, name)
        rows = _read_shard_codes(shard_dir, name)
        if len(rows) != len(described["kept"]):
            raise ValueError(
                f"damaged shard {name!r} in {shard_dir!r}: {len(rows)} codes for {len(described['kept'])} images; "
                "delete it to encode its files again"
            )
        if len(rows):
            codes.append(rows)
        kept.extend(described["kept"])
        skipped.extend((path, reason) for path, reason in described["skipped"])
    return (np.concatenate(codes).astype(np.float32, copy=False) if codes else None), kept, skipped


def _read_shard_json(shard_dir: str, name: str) -> dict:
    try:
        with open(os.path.join(shard_dir, name), encoding="utf-8") as file:
            described = json.load(file)
        if described["format"] != SHARD_FORMAT or not isinstance(described["kept"], list):
            raise ValueError("not a cae_sim shard")
        return described
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"damaged shard {name!r} in {shard_dir!r} ({error}); delete it to encode its files again") from error


def _read_shard_codes(shard_dir: str, name: str) -> np.ndarray:
    try:
        rows = np.load(os.path.join(shard_dir, _codes_name(name)), allow_pickle=False)
    except (ValueError, EOFError) as error:  # a file that is no .npy, or a truncated one
        raise ValueError(f"damaged shard {_codes_name(name)!r} in {shard_dir!r} ({error}); delete it to encode its files again") from error
    if rows.ndim != 2:
        raise ValueError(f"damaged shard {_codes_name(name)!r} in {shard_dir!r}: codes of shape {rows.shape}")
    return rows


# ---------------------------------------------------------------------- the task, on a worker


def _encode_partition(
    model_dir: str, digest: str, paths: list[str], start: int, shard_dir: str, name: str, identity: str, n_jobs: int
) -> str:
    """Encode one partition's files and write its shard; return the shard's JSON name.

    Runs on a worker. ``start`` is the partition's first position in the whole
    list, added to the positions written.
    """
    encoder = _worker_encoder(model_dir, digest)
    codes, kept, skipped = _encode_readable(encoder, paths, n_jobs)
    write_atomically(os.path.join(shard_dir, _codes_name(name)), lambda file: np.save(file, codes, allow_pickle=False))
    described = {
        "format": SHARD_FORMAT,
        "identity": identity,
        "kept": [start + position for position in kept],
        "skipped": skipped,
    }
    write_atomically(os.path.join(shard_dir, name), lambda file: file.write(json.dumps(described).encode()))
    return name


def _worker_encoder(model_dir: str, digest: str) -> "Encoder":
    """The fitted encoder of the save at ``model_dir``, loaded once per process and kept for later tasks.

    Raises
    ------
    ValueError
        If the save's encoder is no longer the one ``digest`` names (the save
        was replaced while encoding), or the save is damaged.
    """
    key = (os.path.realpath(model_dir), digest)
    with _encoders_lock:  # one thread loads; another wanting the same model waits for it
        if key in _encoders:
            _encoders.move_to_end(key)
            return _encoders[key]
        encoder = _load_checked_encoder(model_dir, digest)
        _encoders[key] = encoder
        while len(_encoders) > ENCODER_CACHE_SIZE:
            _encoders.popitem(last=False)
        return encoder


def _load_checked_encoder(model_dir: str, digest: str) -> "Encoder":
    """Load a save's encoder, reading its manifest once, and check it is the one ``digest`` names."""
    from .persistence import checked_save, load_encoder

    _, manifest = checked_save(model_dir, prefix="encoder/")
    if _encoder_digest(manifest) != digest:
        raise ValueError(f"the encoder of the save {model_dir!r} changed while its files were being encoded")
    return load_encoder(model_dir)


def _encode_readable(encoder: "Encoder", paths: list[str], n_jobs: int) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Encode the readable files; return (codes (n, d) or (0, 0), their positions in ``paths``, skipped)."""
    from .encoders.base import encode_batches
    from .images import READ_BATCH_SIZE, iter_batches

    codes, kept, skipped = encode_batches(encoder, iter_batches(paths, encoder.image_size, READ_BATCH_SIZE, n_jobs, skip_errors=True))
    return (np.empty((0, 0), np.float32) if codes is None else codes), kept, skipped


# ---------------------------------------------------------------------- clusters


@contextlib.contextmanager
def local_client(n_workers: int = 2) -> Iterator[Client]:
    """Start a cluster of worker processes on this machine; yield a client of it, and close both after.

    Each worker is a process with one thread (the encoder's runtime and the
    decoder use several cores each: ``n_workers`` = number of cores is a good
    start, fewer if memory is short). Workers start as the commands do
    (``dask_setup``).

    The scheduler, the nannies and the workers listen on 127.0.0.1 only, and
    there is no dashboard: Dask's scheduler always starts an HTTP server (its
    health and metrics pages), which takes a free port of 127.0.0.1, not 8787.

    Parameters
    ----------
    n_workers : int, default=2

    Yields
    ------
    distributed.Client

    Raises
    ------
    ValueError
        If ``n_workers`` < 1.
    """
    check_int("n_workers", n_workers)
    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, host=LOOPBACK, preload=[__name__],
            dashboard_address=None, scheduler_kwargs={"dashboard_address": f"{LOOPBACK}:0"},  # None alone: 8787
            silence_logs=logging.ERROR,  # not the nanny's warnings about workers slow to stop (TensorFlow takes seconds)
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def connect(address: str) -> Client:
    """Return a client of a running Dask scheduler, e.g. ``connect("tcp://10.0.0.5:8786")``.

    Start its workers with ``--preload cae_sim.distributed`` to keep TensorFlow's
    start-up lines out of their logs.

    Raises
    ------
    ValueError
        If ``address`` is not a non-empty string.
    OSError
        If no scheduler answers there (Dask's timeout).
    """
    if not isinstance(address, str) or not address:
        raise ValueError(f"address must be a scheduler address such as 'tcp://HOST:8786', got {address!r}")
    return Client(address)


def dask_setup(worker) -> None:
    """Dask preload hook (``--preload cae_sim.distributed``): prepare the worker process as the commands do theirs.

    Only the worker process is touched (``cae_sim._startup.prepare_command_process``): ``cae_sim.tune_malloc()``
    (Dask's own small ``MALLOC_TRIM_THRESHOLD_`` has an encoder's buffers mapped anew for every batch), and
    TensorFlow's and LiteRT's start-up lines silenced whenever they load. TensorFlow loads only for an encoder that
    runs on Keras: a worker encoding with a pretrained encoder on LiteRT never imports it.
    """
    from ._startup import prepare_command_process

    prepare_command_process()
