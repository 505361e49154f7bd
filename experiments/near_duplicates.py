"""Near-duplicate groups on two collections: precision and recall of ``Pipeline.duplicates`` across thresholds.

Two collections, each written to a temporary folder, each with four copies
(an exact one, a resized one, one re-compressed as JPEG at quality 35 and a
90 % centre crop) of some of its images:

- ``photos``: the 56 real photos of ``datasets.load_real_photos`` (longer side
  at most 512 px); 40 of them (a seeded choice) with copies, resized to half
  size; and 100 distinct images with no copy (``copy_set.distractors``: LFW
  faces and non-faces, CIFAR cats and dogs).
- ``cifar_pets``: 500 of the 2,000 CIFAR-10 cats and dogs of
  ``datasets.load_dogs_cats`` (32×32 colour, a seeded choice): small images,
  as in a collection of thumbnails or icons; 100 of them with copies,
  resized ×2 (to 64 px); the other 400 alone.

Encoders: the default (``"auto"``: efficientnet_lite0's pooled features), the
former default (efficientnet_lite2's class scores), cae and phash, each a
Pipeline (n_clusters=10, random_state=0, cosine scores) fitted on the folder
once, and the raw-pixel
baseline: each image read at 32×32 RGB (``cae_sim.images.read_file``), its
values scaled to [0, 1], flattened and mean-centred per image (its mean
value subtracted), in an ``ExactIndex(metric="cosine")``: the cosine of
centred pixels is their correlation. Centred pixels are the better baseline
on both collections (best F1 0.90 against 0.80 on the photos, 0.95 against
0.87 on the pets, seed 0): the cosine of uncentred pixels, all non-negative,
is high for any two images of similar brightness (two different photos up
to 0.99), so only thresholds of 0.98 and above separate anything. The groups of every encoder come from
``cae_sim.duplicates.duplicate_groups(index, codes, threshold)``, as in
``Pipeline.duplicates``.

At each threshold, a found pair is two images in one duplicate group, a true
pair two images of one family (an original and its copies); reported are
their precision and recall, each copy kind's recall (its pairs with the
original found) and each encoder's threshold of best F1 on each collection.
Also: the lowest score of an original and its copy of each kind, and the
highest score of two different originals, and of an image and a distractor.
And each pipeline's default thresholds: the fixed 0.95 of saves made before
calibration, and the one calibrated on the folder's own images at fit time,
with the precision and recall it estimated.

    python experiments/near_duplicates.py [--seed 0]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import zlib
from collections import Counter
from math import comb
from pathlib import Path
from typing import Callable, NamedTuple

import cv2
import numpy as np

import benchlib
from benchlib import write_results
from cae_sim import Pipeline, tune_malloc
from cae_sim.duplicates import DEFAULT_THRESHOLD, duplicate_groups
from cae_sim.encoders import PretrainedEncoder
from cae_sim.images import find_images, read_file
from cae_sim.index import ExactIndex
from cae_sim.plots import write_image
from copy_set import distractors
from datasets import load_dogs_cats, load_real_photos

RAW_PIXELS = "raw_pixels"
#: The former default of encoder="auto" for photos: EfficientNet-Lite2's class scores.
FORMER_DEFAULT = "efficientnet_lite2_logits"
ENCODERS = ("auto", FORMER_DEFAULT, "cae", "phash", RAW_PIXELS)  # "auto": the default, efficientnet_lite0 pooled
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.875, 0.9, 0.91, 0.92, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0)
RAW_SIDE = 32
MAX_SIDE = 512
N_DISTRACTORS = 100
N_PETS = 500
JPEG_QUALITY = 35
CROP = 0.9
COPY_KINDS = ("exact", "resized", f"jpeg{JPEG_QUALITY}", f"crop{round(CROP * 100)}")


class Collection(NamedTuple):
    """How one collection is made: its originals and distractors, how many originals get copies, the resize factor."""

    load: Callable[[int], tuple[dict[str, np.ndarray], list[np.ndarray]]]
    n_copied: int
    resize: float


def real_photos(seed: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """The 56 real photos by name (longer side at most ``MAX_SIDE``) and ``N_DISTRACTORS`` distractors."""
    return load_real_photos(max_side=MAX_SIDE), distractors(N_DISTRACTORS, seed)


def cifar_pets(seed: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """``N_PETS`` CIFAR-10 cats and dogs (a seeded choice) by name, and no distractors."""
    images, _ = load_dogs_cats()
    picked = np.random.default_rng([seed, zlib.crc32(b"pets")]).choice(len(images), N_PETS, replace=False)
    return {f"pet_{i:04d}": images[i] for i in sorted(picked)}, []


COLLECTIONS = {"photos": Collection(real_photos, n_copied=40, resize=0.5), "cifar_pets": Collection(cifar_pets, n_copied=100, resize=2.0)}


# --------------------------------------------------------------------------- the folder


def write_folder(folder: Path, collection: Collection, seed: int) -> dict[str, tuple[int, str]]:
    """Write a collection's originals, their copies and its distractors; return each file's (family, kind).

    The family is the original's number, or -1 for a distractor (a family of its own); the kind is
    ``"original"``, one of ``COPY_KINDS`` or ``"distractor"``.
    """
    originals, others = collection.load(seed)
    copied = set(np.random.default_rng(seed).choice(sorted(originals), collection.n_copied, replace=False))
    truth = {}
    for family, (name, image) in enumerate(sorted(originals.items())):
        original = folder / f"{name}.png"
        write_image(original, image)
        truth[str(original)] = (family, "original")
        if name in copied:
            copies = write_copies(folder, name, image, original, collection.resize)
            truth |= {str(path): (family, kind) for kind, path in copies.items()}
    for i, image in enumerate(others, start=1):
        path = folder / f"distractor_{i:04d}.png"
        write_image(path, image)
        truth[str(path)] = (-1, "distractor")
    return truth


def write_copies(folder: Path, name: str, image: np.ndarray, original: Path, resize: float) -> dict[str, Path]:
    """Write the four copies of one image (RGB uint8) whose file is ``original``; return their paths by kind.

    The resized copy is ``resize`` times the image's size (area averaging to shrink, bilinear to enlarge).
    """
    h, w = image.shape[:2]
    paths = {kind: folder / f"{name}__{kind}.png" for kind in COPY_KINDS}
    paths[COPY_KINDS[2]] = paths[COPY_KINDS[2]].with_suffix(".jpg")
    shutil.copyfile(original, paths["exact"])
    size = (round(w * resize), round(h * resize))
    write_image(paths["resized"], cv2.resize(image, size, interpolation=cv2.INTER_AREA if resize < 1 else cv2.INTER_LINEAR))
    cv2.imwrite(str(paths[COPY_KINDS[2]]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    write_image(paths[COPY_KINDS[3]], benchlib.centre_crop(image, CROP))
    return paths


# --------------------------------------------------------------------------- codes


def raw_pixel_codes(paths: list[str], side: int = RAW_SIDE, centre: bool = True) -> np.ndarray:
    """The raw-pixel baseline's codes: each image at ``side``×``side`` RGB, in [0, 1], flattened (float32).

    With ``centre``, each image's mean value is subtracted, so that the cosine of two codes is their correlation.
    """
    codes = np.stack([read_file(path, side) for path in paths]).reshape(len(paths), -1).astype(np.float32) / 255.0
    return codes - codes.mean(axis=1, keepdims=True) if centre else codes


def fit_codes(encoder: str, folder: str) -> tuple[ExactIndex, np.ndarray, list[str], dict | None]:
    """The fitted index, the codes, the image paths (in the codes' order) and the pipeline's near-duplicate
    calibration (None for raw pixels) of one encoder on a folder."""
    if encoder == RAW_PIXELS:
        paths = find_images(folder)[0]
        codes = raw_pixel_codes(paths)
        return ExactIndex(metric="cosine").fit(codes), codes, paths, None
    if encoder == FORMER_DEFAULT:
        encoder = PretrainedEncoder(model="efficientnet_lite2", layer="logits")
    pipeline = Pipeline(encoder=encoder, n_clusters=10, random_state=0).fit(folder)
    calibration = pipeline.calibration_._asdict() if pipeline.calibration_ else None
    return pipeline.index_, pipeline.codes_, pipeline.paths_, calibration


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


def all_scores(index: ExactIndex, codes: np.ndarray) -> np.ndarray:
    """Every pair's score, an (n, n) array, searched a few rows at a time.

    ``ExactIndex`` measures each query's neighbours exactly, holding rows × n × the codes' width values at once:
    10 GB for 900 raw-pixel codes in one search, 64 MiB in these blocks.
    """
    scores = np.empty((len(codes), len(codes)), np.float32)
    step = max(1, 2**24 // codes.size)
    for start in range(0, len(codes), step):
        distances, positions = index.kneighbors(codes[start : start + step], len(codes))
        np.put_along_axis(scores[start : start + step], positions, index.score(distances), axis=1)
    return scores


def score_margins(index: ExactIndex, codes: np.ndarray, families: np.ndarray, kinds: np.ndarray) -> dict[str, float | None]:
    """The lowest score of an original and its copy, by kind; the highest of two images of different families,
    among the originals and their copies, and with a distractor (None without distractors)."""
    scores = all_scores(index, codes)
    originals = {family: i for i, (family, kind) in enumerate(zip(families, kinds)) if kind == "original"}
    margins = {f"lowest_{kind}": float(min(scores[originals[families[i]], i] for i in np.flatnonzero(kinds == kind))) for kind in COPY_KINDS}
    photo = families >= 0
    different = (families[:, None] != families[None, :]) | ~photo[:, None]
    np.fill_diagonal(different, False)
    both_photos = photo[:, None] & photo[None, :]
    with_distractor = scores[different & ~both_photos]
    margins["highest_different_originals"] = float(scores[different & both_photos].max())
    margins["highest_with_a_distractor"] = float(with_distractor.max()) if with_distractor.size else None
    return margins


def best_f1(rows: list[dict]) -> dict:
    """The threshold of highest F1 (the lowest such threshold on a tie) with its precision, recall and F1."""
    f1 = [2 * row["precision"] * row["recall"] / (row["precision"] + row["recall"] or 1) for row in rows]
    best = int(np.argmax(f1))
    return {"threshold": rows[best]["threshold"], "precision": rows[best]["precision"], "recall": rows[best]["recall"], "f1": f1[best]}


def evaluate(encoder: str, folder: str, truth: dict[str, tuple[int, str]]) -> dict:
    """Fit one encoder on a folder; its fit time, score margins, best F1 and scores at every threshold."""
    start = time.perf_counter()
    index, codes, paths, calibration = fit_codes(encoder, folder)
    fit_seconds = time.perf_counter() - start
    families = np.array([truth[path][0] for path in paths])
    kinds = np.array([truth[path][1] for path in paths])

    def scored(threshold: float) -> dict:
        groups = duplicate_groups(index, codes, threshold)
        return {"threshold": threshold, **pair_scores(groups, families), "recall_by_kind": kind_recall(groups, families, kinds)}

    rows = [scored(threshold) for threshold in THRESHOLDS]
    defaults = {"fixed": scored(DEFAULT_THRESHOLD)}
    if calibration is not None:
        defaults["calibrated"] = scored(calibration["threshold"]) | {
            "estimated_precision": calibration["precision"], "estimated_recall": calibration["recall"]}
    return {"fit_seconds": fit_seconds, "best_f1": best_f1(rows), "margins": score_margins(index, codes, families, kinds),
            "defaults": defaults, "thresholds": rows}


# --------------------------------------------------------------------------- report


def print_table(name: str, results: dict) -> None:
    """Print one collection's precision / recall by threshold and encoder, best F1 and score margins."""
    print(f"\n{name}\nthreshold  " + "".join(f"{encoder + ' P / R':>26}" for encoder in results))
    for t, threshold in enumerate(THRESHOLDS):
        cells = [results[encoder]["thresholds"][t] for encoder in results]
        print(f"{threshold:9.3f}  " + "".join(f"{c['precision']:.3f} / {c['recall']:.3f} ({c['groups']:3d} gr)".rjust(26) for c in cells))
    print("best F1  " + "".join(f"{b['f1']:.3f} at {b['threshold']:.3f}".rjust(26) for b in (r["best_f1"] for r in results.values())))
    print(f"default thresholds: fixed {DEFAULT_THRESHOLD} against the one calibrated at fit time (estimated P / R in brackets)")
    for encoder, result in results.items():
        cells = []
        for name, row in result["defaults"].items():
            estimate = f" (est. {row['estimated_precision']:.3f} / {row['estimated_recall']:.3f})" if "estimated_precision" in row else ""
            cells.append(f"{name} {row['threshold']:.3f}: P {row['precision']:.3f} R {row['recall']:.3f}{estimate}")
        print(f"  {encoder:26}" + "   ".join(cells))
    print("lowest score of an original and its copy of each kind; highest of two different originals, and with a distractor")
    for encoder, result in results.items():
        cells = (f"{key.removeprefix('lowest_')}={'-' if value is None else f'{value:.3f}'}" for key, value in result["margins"].items())
        print(f"  {encoder:20}" + "  ".join(cells))


def run_collection(name: str, collection: Collection, seed: int) -> tuple[dict, dict]:
    """Write one collection to a temporary folder and evaluate every encoder on it; return (setup, results)."""
    with tempfile.TemporaryDirectory(prefix=f"cae_sim-near-duplicates-{name}-") as folder:
        truth = write_folder(Path(folder), collection, seed)
        kinds = Counter(kind for _, kind in truth.values())
        setup = {"n_images": len(truth), "n_originals": kinds["original"], "n_copied": collection.n_copied,
                 "copy_kinds": COPY_KINDS, "resize": collection.resize, "n_distractors": kinds["distractor"]}
        print(f"{name}: {setup}", flush=True)
        results = {encoder: evaluate(encoder, folder, truth) for encoder in ENCODERS}
    print_table(name, results)
    return setup, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the images that get copies, the pets and the distractors")
    args = parser.parse_args()
    setups, results = {}, {}
    for name, collection in COLLECTIONS.items():
        setups[name], results[name] = run_collection(name, collection, args.seed)
    best = {name: {encoder: result["best_f1"] for encoder, result in by_encoder.items()} for name, by_encoder in results.items()}
    defaults = {name: {encoder: result["defaults"] for encoder, result in by_encoder.items()} for name, by_encoder in results.items()}
    setup = {"collections": setups, "raw_pixels": {"side": RAW_SIDE, "centred": True}, "max_side": MAX_SIDE}
    print("\nwrote", write_results("near_duplicates", args, setup=setup, best_f1=best, defaults=defaults, results=results))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
