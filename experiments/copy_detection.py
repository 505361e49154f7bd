"""Copy detection on real photos: find the original of a degraded copy.

Index: the photos that scikit-image ships and loads offline. ``data/`` is not
added: its twelve JPEGs are scaled copies of skimage photos already in the
index (see data/README.md), so adding them would put duplicates in the index.
Left out: ``cat`` (the same picture as ``chelsea``), ``horse`` (a binary
silhouette, not a photo), and the synthetic images (colorwheel, logo,
checkerboard, binary_blobs, shepp_logan_phantom); ``eagle`` needs a download.

Queries: each photo under seven seeded degradations. Each method fits a
Pipeline on the index files (n_clusters=2, random_state=0) and ranks the index
with ``kneighbors``; a DCT perceptual hash (pHash) is the baseline. Reported:
top-1 and top-5 accuracy, overall and per degradation. Target: top-1 ≥ 0.95
for the default pretrained encoder (efficientnet_lite0).

    python experiments/copy_detection.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data

import benchlib
from benchlib import write_results
from cae_sim import Pipeline
from cae_sim.images import to_rgb_uint8
from cae_sim.metrics import top_n_accuracy
from cae_sim.plots import write_image
from cae_sim import tune_malloc

PHOTOS = [
    "astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket", "text",
]
WORK = Path("/tmp/cae_sim_copy_detection")
METHODS = {
    "efficientnet_lite0": dict(encoder="efficientnet_lite0"),
    "mobilenet_v2": dict(encoder="mobilenet_v2"),
    "ensemble": dict(encoder=["efficientnet_lite0", "mobilenet_v2"]),
    "cae": dict(encoder="cae", epochs=50, batch_size=8),
}


# --------------------------------------------------------------------------- degradations (RGB uint8 in and out)


def jpeg_q10(image, rng):
    return benchlib.jpeg(image, 10)


def crop_70(image, rng):
    return benchlib.centre_crop(image, 0.7)


def rotate_15(image, rng):
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 15, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def down_up_4(image, rng):
    h, w = image.shape[:2]
    return benchlib.down_up(image, (max(w // 4, 1), max(h // 4, 1)))


def blur_noise(image, rng):
    blurred = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 2)
    return np.clip(blurred + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)


def sepia(image, rng):
    return benchlib.sepia_tone(image).astype(np.uint8)


def hflip(image, rng):
    return benchlib.hflip(image)


DEGRADATIONS = {f.__name__: f for f in (jpeg_q10, crop_70, rotate_15, down_up_4, blur_noise, sepia, hflip)}


# --------------------------------------------------------------------------- data


def make_files(seed: int) -> tuple[list[str], list[str], list[int], list[str]]:
    """Write index and query PNGs under /tmp; return index paths, query paths, each query's true index and degradation."""
    (WORK / "index").mkdir(parents=True, exist_ok=True)
    (WORK / "queries").mkdir(exist_ok=True)
    originals = [to_rgb_uint8(getattr(skimage.data, name)()) for name in PHOTOS]
    index = [str(WORK / "index" / f"{name}.png") for name in PHOTOS]
    for path, image in zip(index, originals):
        write_image(path, image)
    rng = np.random.default_rng(seed)
    queries, truth, kinds = [], [], []
    for kind, degrade in DEGRADATIONS.items():
        for i, (name, image) in enumerate(zip(PHOTOS, originals)):
            queries.append(str(WORK / "queries" / f"{kind}_{name}.png"))
            write_image(queries[-1], degrade(image, rng))
            truth.append(i)
            kinds.append(kind)
    return index, queries, truth, kinds


# --------------------------------------------------------------------------- methods


def phash(path: str) -> np.ndarray:
    """64-bit DCT perceptual hash: 32×32 gray, top-left 8×8 DCT block thresholded at its median (DC left out)."""
    gray = cv2.resize(cv2.imread(path, cv2.IMREAD_GRAYSCALE), (32, 32), interpolation=cv2.INTER_AREA)
    block = cv2.dct(gray.astype(np.float32))[:8, :8].ravel()
    return block > np.median(block[1:])


def phash_ranking(index: list[str], queries: list[str], k: int) -> np.ndarray:
    """Indices of the k index images nearest in Hamming distance (ties: lower index first)."""
    hashes = np.array([phash(p) for p in index])
    distances = np.array([(hashes != phash(q)).sum(axis=1) for q in queries])
    return np.argsort(distances, axis=1, kind="stable")[:, :k]


def pipeline_ranking(params: dict, index: list[str], queries: list[str], k: int) -> np.ndarray:
    pipeline = Pipeline(n_clusters=2, random_state=0, **params).fit(index)
    return pipeline.kneighbors(queries, n_neighbors=k)[1]


def scores(ranking: np.ndarray, truth: list[int], kinds: list[str]) -> dict:
    """Top-1 and top-5 accuracy overall and per degradation."""
    truth, kinds = np.asarray(truth), np.asarray(kinds)
    groups = {"overall": np.ones(len(truth), bool)} | {kind: kinds == kind for kind in DEGRADATIONS}
    return {group: {f"top{n}": top_n_accuracy(truth[mask], ranking[mask], n) for n in (1, 5)} for group, mask in groups.items()}


def print_table(results: dict) -> None:
    columns = ["overall", *DEGRADATIONS]
    print(f"{'method (top-1 / top-5)':22}" + "".join(f"{c:>12}" for c in columns))
    for method, row in results.items():
        cells = "".join(f"{row[c]['top1']:.2f}/{row[c]['top5']:.2f}".rjust(12) for c in columns)
        print(f"{method:22}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise degradation")
    args = parser.parse_args()

    index, queries, truth, kinds = make_files(args.seed)
    print(f"{len(index)} index photos, {len(queries)} queries")
    accuracy, seconds = {}, {}
    for method, params in {**METHODS, "phash": None}.items():
        start = time.perf_counter()
        ranking = phash_ranking(index, queries, 5) if params is None else pipeline_ranking(params, index, queries, 5)
        seconds[method] = time.perf_counter() - start
        accuracy[method] = scores(ranking, truth, kinds)
    print_table(accuracy)
    results = {
        "index": PHOTOS,
        "degradations": list(DEGRADATIONS),
        "n_queries": len(queries),
        "accuracy": accuracy,
        "seconds_fit_and_query": seconds,
        "target_top1_efficientnet_lite0": 0.95,
    }
    print("wrote", write_results("copy_detection", args, results=results))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
