"""Near-duplicate groups on real photos: precision and recall of ``Pipeline.duplicates`` across thresholds.

Images, written to a temporary folder: the 56 real photos of
``datasets.load_real_photos`` (longer side at most 512 px); for 40 of them
(a seeded choice) four copies: an exact one, one at half size, one
re-compressed as JPEG at quality 35 and a 90 % centre crop; and 100 distinct
images with no copy (``copy_set.distractors``: LFW faces and non-faces, CIFAR
cats and dogs). The other 16 photos have no copy either.

Each encoder's Pipeline (n_clusters=10, random_state=0, cosine scores) is
fitted on the folder once; at each threshold, a found pair is two images in
one duplicate group, a true pair two images of one photo's family (the photo
and its copies). Also reported: each copy kind's recall (its pairs with the
original found), the lowest score of an original and its copy of each kind,
and the highest score of two images of different families (two photos, or a
photo or distractor and a distractor).

    python experiments/near_duplicates.py [--seed 0]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from math import comb
from pathlib import Path

import cv2
import numpy as np

from benchlib import write_results
from cae_sim import Pipeline, tune_malloc
from cae_sim.plots import write_image
from copy_set import distractors
from datasets import load_real_photos

ENCODERS = ("efficientnet_lite0", "cae", "phash")
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.875, 0.9, 0.91, 0.92, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0)
MAX_SIDE = 512
N_COPIED = 40
N_DISTRACTORS = 100
JPEG_QUALITY = 35
CROP = 0.9
COPY_KINDS = ("exact", "half_size", f"jpeg{JPEG_QUALITY}", f"crop{round(CROP * 100)}")


# --------------------------------------------------------------------------- the folder


def write_folder(folder: Path, seed: int) -> dict[str, tuple[int, str]]:
    """Write the photos, their copies and the distractors; return each file's (family, kind).

    The family is the photo's number, or -1 for a distractor (a family of its own); the kind is
    ``"original"``, one of ``COPY_KINDS`` or ``"distractor"``.
    """
    photos = load_real_photos(max_side=MAX_SIDE)
    copied = set(np.random.default_rng(seed).choice(sorted(photos), N_COPIED, replace=False))
    truth = {}
    for family, (name, image) in enumerate(sorted(photos.items())):
        original = folder / f"{name}.png"
        write_image(original, image)
        truth[str(original)] = (family, "original")
        if name in copied:
            truth |= {str(path): (family, kind) for kind, path in write_copies(folder, name, image, original).items()}
    for i, image in enumerate(distractors(N_DISTRACTORS, seed), start=1):
        path = folder / f"distractor_{i:04d}.png"
        write_image(path, image)
        truth[str(path)] = (-1, "distractor")
    return truth


def write_copies(folder: Path, name: str, image: np.ndarray, original: Path) -> dict[str, Path]:
    """Write the four copies of one photo (RGB uint8) whose file is ``original``; return their paths by kind."""
    h, w = image.shape[:2]
    top, left = round(h * (1 - CROP) / 2), round(w * (1 - CROP) / 2)
    paths = {kind: folder / f"{name}__{kind}.png" for kind in COPY_KINDS}
    paths[COPY_KINDS[2]] = paths[COPY_KINDS[2]].with_suffix(".jpg")
    shutil.copyfile(original, paths["exact"])
    write_image(paths["half_size"], cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(paths[COPY_KINDS[2]]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    write_image(paths[COPY_KINDS[3]], image[top : h - top, left : w - left])
    return paths


# --------------------------------------------------------------------------- scoring


def group_numbers(groups: list[list[int]], n_images: int) -> np.ndarray:
    """Each image's group number, -1 for an image in no group."""
    numbers = np.full(n_images, -1)
    for number, group in enumerate(groups):
        numbers[group] = number
    return numbers


def pair_scores(groups: list[list[int]], families: np.ndarray) -> dict:
    """Precision and recall of the pairs within groups against the pairs within families (-1: no family)."""
    in_group = group_numbers(groups, len(families))
    true = sum(comb(n, 2) for family, n in Counter(families.tolist()).items() if family >= 0)
    found = sum(comb(len(group), 2) for group in groups)
    cells = Counter(zip(in_group.tolist(), families.tolist()))
    both = sum(comb(n, 2) for (group, family), n in cells.items() if group >= 0 and family >= 0)
    return {
        "precision": both / found if found else 1.0,
        "recall": both / true,
        "groups": len(groups),
        "images_in_groups": int(sum(len(group) for group in groups)),
        "largest_group": max((len(group) for group in groups), default=0),
    }


def kind_recall(groups: list[list[int]], families: np.ndarray, kinds: np.ndarray) -> dict[str, float]:
    """For each copy kind, the fraction of copies in the same group as their original."""
    in_group = group_numbers(groups, len(families))
    originals = {family: i for i, (family, kind) in enumerate(zip(families, kinds)) if kind == "original"}
    recall = {}
    for kind in COPY_KINDS:
        copies = np.flatnonzero(kinds == kind)
        recall[kind] = float(np.mean([in_group[i] >= 0 and in_group[i] == in_group[originals[families[i]]] for i in copies]))
    return recall


def score_margins(pipeline: Pipeline, families: np.ndarray, kinds: np.ndarray) -> dict[str, float]:
    """The lowest score of an original and its copy, by kind; the highest of two images of different families,
    among the photos and with a distractor."""
    index = pipeline.index_
    distances, positions = index.kneighbors(pipeline.codes_, len(pipeline.codes_))
    scores = np.full((len(families), len(families)), np.nan)
    np.put_along_axis(scores, positions, index.score(distances), axis=1)
    originals = {family: i for i, (family, kind) in enumerate(zip(families, kinds)) if kind == "original"}
    margins = {f"lowest_{kind}": float(min(scores[originals[families[i]], i] for i in np.flatnonzero(kinds == kind))) for kind in COPY_KINDS}
    photo = families >= 0
    different = (families[:, None] != families[None, :]) | ~photo[:, None]
    np.fill_diagonal(different, False)
    both_photos = photo[:, None] & photo[None, :]
    margins["highest_different_photos"] = float(scores[different & both_photos].max())
    margins["highest_with_a_distractor"] = float(scores[different & ~both_photos].max())
    return margins


# --------------------------------------------------------------------------- report


def print_table(results: dict) -> None:
    print("threshold  " + "".join(f"{encoder + ' P / R':>26}" for encoder in results))
    for t, threshold in enumerate(THRESHOLDS):
        cells = [results[encoder]["thresholds"][t] for encoder in results]
        print(f"{threshold:9.3f}  " + "".join(f"{c['precision']:.3f} / {c['recall']:.3f} ({c['groups']:3d} gr)".rjust(26) for c in cells))
    print("\nlowest score of an original and its copy of each kind; highest of two different photos, and with a distractor")
    for encoder, result in results.items():
        print(f"  {encoder:20}" + "  ".join(f"{key.removeprefix('lowest_')}={value:.3f}" for key, value in result["margins"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the photos that get copies and of the distractors")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cae_sim-near-duplicates-") as folder:
        truth = write_folder(Path(folder), args.seed)
        print(f"{len(truth)} images: {N_COPIED} photos with {len(COPY_KINDS)} copies each, the other photos and {N_DISTRACTORS} distractors alone")
        results = {}
        for encoder in ENCODERS:
            start = time.perf_counter()
            pipeline = Pipeline(encoder=encoder, n_clusters=10, random_state=0).fit(folder)
            fit_seconds = time.perf_counter() - start
            families = np.array([truth[path][0] for path in pipeline.paths_])
            kinds = np.array([truth[path][1] for path in pipeline.paths_])
            rows = []
            for threshold in THRESHOLDS:
                groups = pipeline.duplicates(threshold)
                rows.append({"threshold": threshold, **pair_scores(groups, families), "recall_by_kind": kind_recall(groups, families, kinds)})
            results[encoder] = {"fit_seconds": fit_seconds, "margins": score_margins(pipeline, families, kinds), "thresholds": rows}
    print_table(results)
    n_photos = sum(kind == "original" for _, kind in truth.values())
    setup = {"n_images": len(truth), "n_photos": n_photos, "n_copied": N_COPIED, "copy_kinds": COPY_KINDS, "n_distractors": N_DISTRACTORS, "max_side": MAX_SIDE}
    print("wrote", write_results("near_duplicates", args, setup=setup, results=results))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
