"""Clustering scikit-learn's 1,797 handwritten digits (8×8): raw-pixel K-Means, the autoencoder, cae_sim's default.

experiments/digits_quality_check.py runs its first two methods as a check of quality: the autoencoder, which the
docs recommend for digits, must beat raw pixels.

    python experiments/digits_clustering.py
"""

from __future__ import annotations

from benchlib import write_results
from clustering_benchmark import kmeans_raw_pixels, pipeline_method, run, save_plots
from datasets import load_digits
from cae_sim import tune_malloc

AUTOENCODER = "autoencoder (encoder='cae')"
METHODS = {
    "K-Means on raw pixels": kmeans_raw_pixels,
    AUTOENCODER: pipeline_method(encoder="cae"),
    "cae_sim default (efficientnet_lite0 + K-Means)": pipeline_method(),
}


def main() -> dict:
    images, labels = load_digits()
    rows, fitted = run(METHODS, images, labels, split="all")
    figures = save_plots("digits", fitted[AUTOENCODER], images)
    payload = {"measured": rows, "figures": figures}
    write_results("digits_clustering", **payload)
    return payload


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
