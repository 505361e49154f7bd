"""Copy matching: find the original of each hard, degraded copy among originals and distractors.

Source index: 56 real photos (``datasets.load_real_photos``) and 200 distractor
photos that have no copy; targets: each original under ten degradations
(``copy_set.DEGRADATIONS``: eight hard ones, hflip and JPEG 50 for comparison).
Every method is scored by ``cae_sim.match`` (Top-N where a target's file name
is its original's), on the same files, in one run: the hashes, the CAE, the
frozen pretrained encoders and their ensemble, and ``ContrastiveEncoder`` on each
backbone and the ensemble, plus ablations of its temperature, policy and output.

    python experiments/copy_matching.py [--seed 0] [--quick]
    python experiments/copy_matching.py --methods "contrastive ensemble, degrade policy"   # other rows are kept
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchlib import RESULTS, kept_rows, stamp, write_results
from cae_sim import ContrastiveEncoder, Pipeline, match
from copy_set import DEGRADATIONS, save_degradation_picture, write_copy_set
from cae_sim import tune_malloc

WORK = Path("/tmp/cae_sim_copy_matching")
ENSEMBLE = ["efficientnet_lite0", "mobilenet_v2"]
TOP = 15


def contrastive(**params) -> ContrastiveEncoder:
    return ContrastiveEncoder(random_state=0, **params)


#: Rows of the table: name → the Pipeline's encoder.
METHODS = {
    "phash": "phash",
    "dhash": "dhash",
    "cae": "cae",
    "efficientnet_lite0": "efficientnet_lite0",
    "mobilenet_v2": "mobilenet_v2",
    "ensemble (lite0 + mobilenet_v2)": ENSEMBLE,
    "contrastive on efficientnet_lite0": contrastive(backbone="efficientnet_lite0", augment="simclr"),
    "contrastive on mobilenet_v2": contrastive(backbone="mobilenet_v2", augment="simclr"),
    "contrastive on the ensemble": contrastive(backbone=ENSEMBLE, augment="simclr"),
}
#: Ablations of the contrastive encoder on efficientnet_lite0 (t=0.1, simclr, head output, 8 views, 400 epochs; the
#: "degrade" rows became the default policy).
ABLATIONS = {
    "contrastive lite0, temperature 0.05": contrastive(temperature=0.05, augment="simclr"),
    "contrastive lite0, temperature 0.2": contrastive(temperature=0.2, augment="simclr"),
    "contrastive lite0, backbone + head": contrastive(output="concat", augment="simclr"),
    "contrastive lite0, 100 epochs": contrastive(epochs=100, augment="simclr"),
    "contrastive lite0, degrade policy": contrastive(augment="degrade"),
    "contrastive ensemble, degrade policy": contrastive(backbone=ENSEMBLE, augment="degrade"),
    "contrastive lite0, 4 views": contrastive(views=4, augment="simclr"),
}


def score(encoder, source: Path, target: Path) -> dict:
    """Fit a pipeline with ``encoder`` on the source, match the targets; Top-N overall and Top-1 per degradation."""
    pipeline = Pipeline(encoder=encoder, n_clusters=1, clustering="kmeans", random_state=0)
    started = time.perf_counter()
    pipeline.fit(source)
    fit_seconds = time.perf_counter() - started
    report = match(source, target, pipeline=pipeline, top=TOP)
    hits = defaultdict(list)
    for position, path in enumerate(report.targets):
        hits[Path(path).parent.name].append(report.first_correct_rank(position) == 1)
    return {
        "top1": report.accuracy[1],
        "top5": report.accuracy[5],
        "top15": report.accuracy[15],
        "fit_seconds": fit_seconds,
        "total_seconds": time.perf_counter() - started,
        "top1_by_degradation": {kind: float(np.mean(hits[kind])) for kind in DEGRADATIONS},
        "n_targets": len(report.targets),
    }


def print_table(rows: dict) -> None:
    short = {kind: kind[:9] for kind in DEGRADATIONS}
    print(f"{'method':38}{'Top-1':>7}{'Top-5':>7}{'Top-15':>7}{'fit s':>7}" + "".join(f"{s:>10}" for s in short.values()))
    for name, row in rows.items():
        cells = "".join(f"{row['top1_by_degradation'][kind]:>10.2f}" for kind in DEGRADATIONS)
        print(f"{name:38}{row['top1']:>7.3f}{row['top5']:>7.3f}{row['top15']:>7.3f}{row['fit_seconds']:>7.0f}{cells}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the degradations")
    parser.add_argument("--quick", action="store_true", help="the main rows only, no ablations")
    parser.add_argument("--methods", nargs="+", choices=[*METHODS, *ABLATIONS], help="run these rows only; keep the others' results")
    args = parser.parse_args()
    chosen = {**METHODS, **({} if args.quick else ABLATIONS)}
    if args.methods:
        chosen = {name: encoder for name, encoder in {**METHODS, **ABLATIONS}.items() if name in args.methods}

    copy_set = write_copy_set(WORK, seed=args.seed)
    save_degradation_picture(seed=args.seed)
    source, target = WORK / "source", WORK / "target"
    print(f"{copy_set['n_originals']} originals + {copy_set['n_distractors']} distractors in the index, "
          f"{copy_set['n_targets']} copies to match")
    previous = RESULTS / "copy_matching.json"
    rows = kept_rows(json.loads(previous.read_text())["results"]["rows"]) if args.methods and previous.exists() else {}
    for name, encoder in chosen.items():
        rows[name] = stamp(score(encoder, source, target))
        print_table({name: rows[name]})
    print()
    print_table(rows)
    results = {
        "n_originals": copy_set["n_originals"],
        "n_distractors": copy_set["n_distractors"],
        "n_targets": copy_set["n_targets"],
        "degradations": list(DEGRADATIONS),
        "rows": rows,
        "targets": {"best_top1": 0.95, "contrastive_over_its_backbone_top1": 0.05},
    }
    print("wrote", write_results("copy_matching", args, results=results))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
