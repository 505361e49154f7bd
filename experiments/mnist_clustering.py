"""Clustering MNIST: raw-pixel K-Means, the default cae_sim pipeline and the pretrained encoder, beside published results.

    python experiments/mnist_clustering.py                      # MNIST-test (10k) and MNIST-full (70k)
    python experiments/mnist_clustering.py --splits test        # the quick one
    python experiments/mnist_clustering.py --methods "cae_sim default"       # rows of other methods are kept

Writes experiments/results/mnist_clustering.json ({"measured": [...], "published": [...]}) and PNGs.
"""

from __future__ import annotations

import argparse
import json

from clustering_benchmark import RESULTS, kmeans_raw_pixels, pipeline_method, run, save_plots, write_results
from datasets import load_mnist
from cae_sim import tune_malloc

METHODS = {
    "K-Means on raw pixels": kmeans_raw_pixels,
    "cae_sim default": pipeline_method(),
    "pretrained efficientnet_lite0 encoder": pipeline_method(encoder="efficientnet_lite0"),
}

PUBLISHED = [
    {"method": "K-Means on raw pixels", "acc": 0.53, "source": "Xie et al. 2016, DEC (ICML)"},
    {"method": "AE + K-Means", "acc": 0.82, "source": "Guo et al. 2017, IDEC (IJCAI)"},
    {"method": "DEC", "acc": 0.84, "source": "Xie et al. 2016, DEC (ICML)"},
    {"method": "IDEC", "acc": 0.88, "source": "Guo et al. 2017, IDEC (IJCAI)"},
    {"method": "DCEC", "acc": 0.889, "source": "Guo et al. 2017, DCEC (ICONIP)"},
    {"method": "N2D", "acc": 0.979, "source": "McConville et al. 2020, N2D (ICPR)"},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=("test", "full"), default=["test", "full"])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    args = parser.parse_args()

    path = RESULTS / "mnist_clustering.json"
    previous = json.loads(path.read_text()) if path.exists() else {"measured": [], "figures": []}
    measured, figures = [], []
    for split in args.splits:
        images, labels = load_mnist(split)
        rows, fitted = run({name: METHODS[name] for name in args.methods}, images, labels, split)
        measured += rows
        if "cae_sim default" in fitted:
            figures += save_plots(f"mnist_{split}", fitted["cae_sim default"], images)
    # rows of methods and splits not run now are kept from the previous results
    kept = [row for row in previous["measured"] if (row["method"], row["split"]) not in {(r["method"], r["split"]) for r in measured}]
    figures = sorted(set(previous.get("figures", [])) | set(figures))
    payload = {"measured": kept + measured, "published": PUBLISHED, "figures": figures}
    write_results("mnist_clustering", payload, "python experiments/mnist_clustering.py")


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
