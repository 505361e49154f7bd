"""The shared library of experiments/: synthetic JPEG folders, timing, memory in MB, degradations, results files.

Memory is measured in one unit everywhere in experiments/: MB, 10**6 bytes (``MB``; not MiB). /proc/self/status,
``ru_maxrss`` and GNU time count kB of 1,024 bytes: ``kib_to_mb`` converts them.

The JPEGs are tiles cut from the sample photos in ``data/`` (random crop, scale,
flip and colour shift) with a smooth random light field and sensor-like noise
added, saved at quality 90: real-looking content, so decoding costs what it
costs on photos, unlike flat colours or pure noise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import cv2
import keras
import numpy as np
import sklearn
import tensorflow as tf

import cae_sim.model
from cae_sim import Pipeline
from cae_sim.augment import jpeg_roundtrip
from cae_sim.calibration import COPY_KINDS, make_copy  # noqa: F401  (the library's five copies, shared here)
from cae_sim.clustering import KMeansClustering, ManifoldClustering
from cae_sim.encoders.autoencoder import ConvAutoencoder
from cae_sim.index import ExactIndex
from memory_mb import MB, PeakRss, bytes_to_mb, kib_to_mb, max_rss_mb, proc_status_mb, rss_mb  # noqa: F401  (shared here)

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO / "data"
RESULTS = REPO / "experiments" / "results"
FOLDERS = Path("/tmp/cae_sim_bench")
DONE_MARKER = "done.json"


def source_state() -> dict:
    """The git commit of the checkout, the files of cae_sim/ changed since it, and whether there are any."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "cae_sim").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "cae_sim_uncommitted": bool(changed), "uncommitted_cae_sim_files": changed}


#: The state of cae_sim's source when it was imported: the code the benchmark runs.
SOURCE = source_state()


def measured_at() -> dict:
    """What a row measured now was measured on: the commit, and whether cae_sim/ had uncommitted changes."""
    return {"commit": SOURCE["commit"], "cae_sim_uncommitted": SOURCE["cae_sim_uncommitted"]}


def stamp(row: dict) -> dict:
    """``row`` with ``measured_at`` (this run's commit and uncommitted state) added: for rows measured now."""
    return {**row, "measured_at": measured_at()}


def kept_rows(rows):
    """Rows kept from an earlier results file, each with its own ``measured_at``, ``None`` where none was recorded.

    ``rows`` is a list of row dicts or a dict of them (name: row); the same kind is returned.
    """
    if isinstance(rows, dict):
        return {name: {"measured_at": None, **row} for name, row in rows.items()}
    return [{"measured_at": None, **row} for row in rows]

#: The steps of Pipeline.fit, timed by wrapping them (in memory, for the duration of a fit).
FIT_PHASES = {
    "read_into_cache": (cae_sim.model, "read_into_cache"),
    "train_autoencoder": (ConvAutoencoder, "fit"),
    "encode": (ConvAutoencoder, "encode"),
    "kmeans": (KMeansClustering, "fit"),
    "umap_and_mixture": (ManifoldClustering, "fit"),
    "index": (ExactIndex, "fit"),
}


# --------------------------------------------------------------------------- JPEG folders


def load_photos() -> list[np.ndarray]:
    """Return the sample photos of ``data/`` as BGR uint8 arrays."""
    return [cv2.imread(str(path)) for path in sorted(PHOTOS.glob("*.jpg"))]


def synthetic_image(rng: np.random.Generator, photos: list[np.ndarray], size: int) -> np.ndarray:
    """Return one realistic ``size`` × ``size`` BGR uint8 image made from a random photo."""
    photo = photos[rng.integers(len(photos))]
    height, width = photo.shape[:2]
    side = int(rng.integers(min(height, width) // 3, min(height, width) + 1))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    crop = photo[top : top + side, left : left + side]
    interpolation = cv2.INTER_CUBIC if side < size else cv2.INTER_AREA
    tile = cv2.resize(crop, (size, size), interpolation=interpolation).astype(np.float32)
    if rng.random() < 0.5:
        tile = tile[:, ::-1]
    light = cv2.resize(rng.normal(0, 15, (4, 4, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    tile = tile * rng.uniform(0.7, 1.3, 3) + rng.uniform(-25, 25, 3) + light
    tile += rng.normal(0, rng.uniform(2, 6), tile.shape)
    return np.clip(tile, 0, 255).astype(np.uint8)


def make_jpeg_folder(n: int, size: int, *, seed: int = 0, quality: int = 90) -> Path:
    """Write ``n`` synthetic JPEGs of ``size`` × ``size`` px under /tmp and return the folder.

    A folder made before with the same parameters is reused (it is complete once
    its ``done.json`` marker exists).
    """
    folder = FOLDERS / f"jpeg_n{n}_{size}px_q{quality}_seed{seed}"
    if (folder / DONE_MARKER).exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    photos = load_photos()
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = synthetic_image(rng, photos, size)
        cv2.imwrite(str(folder / f"img_{i:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    (folder / DONE_MARKER).write_text(json.dumps({"n": n, "size": size, "seed": seed, "quality": quality}))
    return folder


def folder_info(folder: Path) -> dict:
    """Describe a JPEG folder made by ``make_jpeg_folder``: its parameters and mean file size."""
    sizes = [path.stat().st_size for path in folder.glob("*.jpg")]
    info = json.loads((folder / DONE_MARKER).read_text())
    return {**info, "path": str(folder), "mean_file_kb": round(statistics.fmean(sizes) / 1024, 1)}


# --------------------------------------------------------------------------- timing


def time_call(function, repeats: int) -> dict:
    """Call ``function`` ``repeats`` times.

    Returns the median wall-clock seconds, the median CPU seconds of the whole
    process (all threads: less disturbed than wall time by other programs on a
    shared machine), the median count of minor page faults, and every
    wall-clock time.
    """
    wall, cpu, faults = [], [], []
    for _ in range(repeats):
        start_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start_cpu, start = time.process_time(), time.perf_counter()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start_faults)
    return {
        "median_s": statistics.median(wall),
        "cpu_median_s": statistics.median(cpu),
        "page_faults_median": statistics.median(faults),
        "times_s": wall,
    }


@contextlib.contextmanager
def timed_methods(targets: dict):
    """Wrap methods (name: (class, attribute)) for the duration of the context.

    Yields a dict name: list of (start, end) ``time.perf_counter`` intervals, one per call.
    """
    intervals = {name: [] for name in targets}

    def wrap(name, method):
        @functools.wraps(method)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                intervals[name].append((start, time.perf_counter()))

        return timed

    with contextlib.ExitStack() as stack:
        for name, (owner, attribute) in targets.items():
            stack.enter_context(mock.patch.object(owner, attribute, wrap(name, getattr(owner, attribute))))
        yield intervals


def fit_pipeline(folder: Path, **params) -> tuple[Pipeline, float, dict]:
    """Fit ``Pipeline(**params)`` on a folder; return it, its fit seconds and the intervals of its phases."""
    pipeline = Pipeline(**params)
    with timed_methods(FIT_PHASES) as intervals:
        start = time.perf_counter()
        pipeline.fit(folder)
        total = time.perf_counter() - start
    return pipeline, total, intervals


def latency_summary(times: list[float]) -> dict:
    """Median, 90th percentile and minimum of latencies, in milliseconds."""
    ms = np.asarray(times) * 1000
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "min_ms": float(ms.min())}


# --------------------------------------------------------------------------- degradations (RGB uint8 in and out)

#: The sepia toning matrix (RGB rows), as photo editors apply it.
SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """An RGB uint8 image encoded as JPEG at ``quality`` and decoded again (``cae_sim.augment.jpeg_roundtrip``)."""
    return jpeg_roundtrip(image, quality)


def hflip(image: np.ndarray) -> np.ndarray:
    """Mirrored left to right."""
    return np.ascontiguousarray(image[:, ::-1])


def centre_crop(image: np.ndarray, fraction: float) -> np.ndarray:
    """The centre ``fraction`` of each side (rounded as ``cae_sim.calibration``'s ``crop80`` copy rounds)."""
    height, width = image.shape[:2]
    margin = round((1 - fraction) / 2, 12)
    top, left = round(height * margin), round(width * margin)
    return image[top : top + max(1, round(height * fraction)), left : left + max(1, round(width * fraction))]


def down_up(image: np.ndarray, small_size: tuple[int, int]) -> np.ndarray:
    """Shrunk to ``small_size`` (width, height) by area averaging, then enlarged back to its size (bilinear)."""
    height, width = image.shape[:2]
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def sepia_tone(image: np.ndarray) -> np.ndarray:
    """The image toned by ``SEPIA``, as float32 in 0–255."""
    return np.clip(image.astype(np.float32) @ SEPIA.T.astype(np.float32), 0, 255)


# --------------------------------------------------------------------------- results


def machine_info() -> dict:
    """CPU count, load and the versions that matter to the timings."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average_1_5_15": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "scikit_learn": sklearn.__version__,
    }


def write_results(name: str, args: argparse.Namespace | None = None, **content) -> Path:
    """Write ``experiments/results/NAME.json``: the command, options, machine and source, then ``content``.

    ``content``'s keys are the file's other top-level keys: the benchmarks put
    theirs under ``results``; the clustering experiments write ``measured``,
    ``published`` and ``figures``, as ``render_results.py`` reads them.

    ``source_when_imported`` (commit, ``cae_sim_uncommitted``, the changed files) holds for every row measured in
    this run; a script that keeps rows of an earlier file marks its rows with ``stamp`` (measured now) and
    ``kept_rows`` (kept, with the ``measured_at`` they had).
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "command": shlex.join(["python", *sys.argv]),
        "options": {} if args is None else vars(args),
        "machine": machine_info(),
        "source_when_imported": SOURCE,
        **content,
    }
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path
