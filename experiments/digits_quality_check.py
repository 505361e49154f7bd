"""The digits quality check, moved out of the test suite (tests/unit/experiments/test_experiments.py, issue 27: tests in five minutes):
the autoencoder, which the docs recommend for small gray images such as digits, must beat K-Means on raw pixels on
scikit-learn's 1,797 digits by 0.05 of ACC, and in NMI (cae_sim's default, pooled ImageNet features, does not: 0.53).

About 30 s on a 2-core machine; exits with status 1, naming the numbers, where the autoencoder does not earn it.

    python experiments/digits_quality_check.py
"""

from __future__ import annotations

import sys

from clustering_benchmark import run
from datasets import load_digits
from digits_clustering import AUTOENCODER, METHODS

RAW = "K-Means on raw pixels"


def main() -> int:
    images, labels = load_digits()
    rows = {row["method"]: row for row in run({name: METHODS[name] for name in (RAW, AUTOENCODER)}, images, labels, split="all")[0]}
    raw, ours = rows[RAW], rows[AUTOENCODER]
    print(f"{RAW}: ACC {raw['acc']:.3f} NMI {raw['nmi']:.3f}; {AUTOENCODER}: ACC {ours['acc']:.3f} NMI {ours['nmi']:.3f}")
    if ours["acc"] >= raw["acc"] + 0.05 and ours["nmi"] > raw["nmi"]:
        print("ok: the autoencoder beats raw pixels by 0.05 of ACC or more, and in NMI")
        return 0
    print("FAILED: the autoencoder does not beat raw pixels by 0.05 of ACC and in NMI", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
