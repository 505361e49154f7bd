"""Float16 storage of codes (issue 26, item 2): does rounding the default encoder's codes to float16 lose anything?

On every collection of the evaluation suite (``suite.py``: ``suite_collections.COLLECTIONS``, deduplicated and capped
as the suite loads them, through ``suite.prepare_collection``), the codes of the default encoder
(efficientnet_lite0's pooled features, 1,280 values, from the suite's code cache; encoded once where the cache lacks
them) are compared with the same codes rounded to float16 and used again as float32:

- search: recall@10 of exact cosine search (``ExactIndex(metric="cosine")``) with the float16 codes against the
  float32 codes' ten nearest neighbours, every image a query, the image itself left out;
- clustering: the library's K-Means (``CLUSTERINGS["kmeans"]``, cosine-prepared codes as in a pipeline), k = the
  number of classes, the suite's seeds: ACC / NMI / ARI against the labels for both (the mean over seeds, as the
  suite reports them), and the ARI between the float32 and float16 labelings of each seed;
- besides (not in the rule): the suite's same-class precision@10 and copy top-1 for both, and the .npy sizes.

The rule, fixed before measuring: float16 is "no loss" when, on every collection, recall@10 >= 0.99 and
|ΔNMI| <= 0.005 and |ΔARI| <= 0.005 (Δ: float16's mean over seeds minus float32's).

    python experiments/float16_codes.py --cache /tmp/suite-run/cache   # the cache of the committed suite run
    python experiments/float16_codes.py --collections digits,food       # a subset

Writes experiments/results/float16_codes.json (rendered in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
import suite  # noqa: E402
from cae_sim.clustering import CLUSTERINGS  # noqa: E402
from cae_sim.index import ExactIndex  # noqa: E402
from cae_sim.metrics import clustering_scores  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

#: The rule, decided before measuring.
MIN_RECALL, MAX_DELTA_NMI, MAX_DELTA_ARI = 0.99, 0.005, 0.005
K = 10
ENCODING = "lite0_pool"  # suite.py's name for the default encoder's codes: efficientnet_lite0 pooled
CHECKED_IMAGES = 8


def to_float16(codes: np.ndarray) -> np.ndarray:
    """The codes rounded to float16 (as stored), read back as float32 (as used)."""
    return codes.astype(np.float16).astype(np.float32)


def neighbours(codes: np.ndarray, k: int = K) -> np.ndarray:
    """Each code's ``k`` nearest others by exact cosine search (``ExactIndex``), the code itself left out."""
    index = ExactIndex(metric="cosine").fit(codes)
    _, found = index.kneighbors(codes, k + 1)
    rows = []
    for own, row in enumerate(found):
        others = row[row != own]
        rows.append(others[:k])  # the code itself dropped; where it was not found (ties), the farthest one dropped
    return np.stack(rows)


def recall_at_k(truth: np.ndarray, found: np.ndarray) -> float:
    """Share of the true neighbours found, averaged over queries."""
    return float(np.mean([len(np.intersect1d(t, f)) / len(t) for t, f in zip(truth, found)]))


def kmeans_labels(codes: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The library's K-Means on the codes as a cosine pipeline prepares them (as ``suite.grouping``)."""
    method = CLUSTERINGS["kmeans"](n_clusters=k, random_state=seed)
    return method.fit(method.prepare(codes, "cosine")).labels_


def npy_bytes(codes: np.ndarray) -> int:
    with tempfile.TemporaryDirectory(prefix="float16_codes-") as folder:
        path = Path(folder) / "codes.npy"
        np.save(path, codes, allow_pickle=False)
        return path.stat().st_size


def cache_check(images: np.ndarray, codes: np.ndarray) -> float:
    """Largest |difference| between the cached codes of the first images and this checkout's encoding of them."""
    fresh = suite.backbone_codes("efficientnet_lite0", images[:CHECKED_IMAGES])["pool"]
    return float(np.abs(fresh - codes[:CHECKED_IMAGES]).max())


def measure(name: str, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    prepared = suite.prepare_collection(name, args.max_images, args.copies, args.cache)
    labels, encodings = prepared.labels, prepared.encodings
    cached = (encodings.folder / f"{ENCODING}.images.npy").exists()
    full, full_copies = encodings.get(ENCODING), encodings.get(ENCODING, "copies")
    half, half_copies = to_float16(full), to_float16(full_copies)
    k = int(len(np.unique(labels)))
    truth = neighbours(full)
    row = {
        "images": len(full), "dimension": int(full.shape[1]), "classes": k, "codes_cached": cached,
        "cache_check_max_abs_diff": cache_check(prepared.images, full),
        "max_abs_value": float(np.abs(full).max()), "max_abs_rounding": float(np.abs(half - full).max()),
        "max_rel_rounding": float((np.linalg.norm(half - full, axis=1) / np.maximum(np.linalg.norm(full, axis=1), 1e-12)).max()),
        "recall_at_10": recall_at_k(truth, neighbours(half)),
        "npy_bytes": {"float32": npy_bytes(full), "float16": npy_bytes(full.astype(np.float16))},
    }
    per_seed = []
    for seed in range(args.seeds):
        a, b = kmeans_labels(full, k, seed), kmeans_labels(half, k, seed)
        per_seed.append({"seed": seed, "float32": clustering_scores(labels, a), "float16": clustering_scores(labels, b),
                         "ari_between": float(adjusted_rand_score(a, b))})
    for kind in ("float32", "float16"):
        row[kind] = {measure: float(np.mean([run[kind][measure] for run in per_seed])) for measure in ("acc", "nmi", "ari")}
    row["float32"]["p@10"], row["float16"]["p@10"] = suite.precision_at_10(full, labels), suite.precision_at_10(half, labels)
    row["float32"]["copy_top1"] = suite.copy_top1(full, full_copies, prepared.originals)
    row["float16"]["copy_top1"] = suite.copy_top1(half, half_copies, prepared.originals)
    row["delta"] = {measure: row["float16"][measure] - row["float32"][measure] for measure in row["float32"]}
    row["ari_between"] = float(np.mean([run["ari_between"] for run in per_seed]))
    row["ari_between_min"] = float(min(run["ari_between"] for run in per_seed))
    row["worst_seed_abs_delta"] = {measure: float(max(abs(run["float16"][measure] - run["float32"][measure]) for run in per_seed))
                                   for measure in ("nmi", "ari")}
    row["per_seed"] = per_seed
    row["no_loss"] = bool(row["recall_at_10"] >= MIN_RECALL and abs(row["delta"]["nmi"]) <= MAX_DELTA_NMI
                          and abs(row["delta"]["ari"]) <= MAX_DELTA_ARI)
    row["seconds"] = round(time.perf_counter() - start, 1)
    print(f"{name:14} recall@10 {row['recall_at_10']:.4f}  NMI {row['float32']['nmi']:.4f} -> {row['float16']['nmi']:.4f}  "
          f"ARI {row['float32']['ari']:.4f} -> {row['float16']['ari']:.4f}  ARI(f32, f16) {row['ari_between']:.4f}  "
          f"{'no loss' if row['no_loss'] else 'outside the bounds'}  ({row['seconds']} s)", flush=True)
    return benchlib.stamp(row)


def main() -> None:
    from suite_collections import COLLECTIONS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections", help="comma-separated names (default: all of the suite's)")
    parser.add_argument("--max-images", type=int, default=2000, help="the suite's cap (default 2000)")
    parser.add_argument("--copies", type=int, default=100, help="the suite's copies per collection (part of its cache key)")
    parser.add_argument("--seeds", type=int, default=3, help="K-Means seeds 0..n-1, as the suite's (default 3)")
    parser.add_argument("--cache", type=Path, default=suite.CACHE, help=f"the suite's code cache (default {suite.CACHE})")
    args = parser.parse_args()
    names = args.collections.split(",") if args.collections else list(COLLECTIONS)
    unknown = [n for n in names if n not in COLLECTIONS]
    if unknown:
        parser.error(f"unknown collection(s) {unknown}; choose from {sorted(COLLECTIONS)}")
    collections = {name: measure(name, args) for name in names}
    verdict = all(row["no_loss"] for row in collections.values())
    rule = (f"no loss when, on every collection, recall@10 >= {MIN_RECALL} and |ΔNMI| <= {MAX_DELTA_NMI} and "
            f"|ΔARI| <= {MAX_DELTA_ARI} (Δ: float16 minus float32, means over the seeds)")
    print(f"verdict: {'no loss' if verdict else 'float16 fails the rule (not no loss)'}; the rule: {rule}")
    path = benchlib.write_results("float16_codes", args, encoding=f"{ENCODING} (efficientnet_lite0 pooled, the default encoder)",
                                  rule=rule, no_loss=verdict, results=collections)
    print("wrote", path)


if __name__ == "__main__":
    main()
