"""Clustering Fashion-MNIST: raw-pixel K-Means, the default cae_sim pipeline and efficientnet_lite0 with K-Means.

    python experiments/fashion_mnist_clustering.py                   # test (10k), then full (70k)
    python experiments/fashion_mnist_clustering.py --splits test     # the quick one

The pretrained encoder runs on the test split only by default: encoding 70,000
images at 224 px takes it about a quarter of an hour on 2 cores. Writes
experiments/results/fashion_mnist_clustering.json and PNGs.
"""

from __future__ import annotations

from clustering_benchmark import experiment_main, kmeans_raw_pixels, pipeline_method
from datasets import load_fashion_mnist
from cae_sim import tune_malloc

METHODS = {
    "K-Means on raw pixels": kmeans_raw_pixels,
    "cae_sim default": pipeline_method(),
    "efficientnet_lite0 + K-Means": pipeline_method(encoder="efficientnet_lite0", clustering="kmeans"),
}

PUBLISHED = [{"method": "N2D", "acc": 0.672, "source": "McConville et al. 2020, N2D (ICPR)"}]

def main() -> None:
    experiment_main("fashion_mnist_clustering", __doc__, load_fashion_mnist, METHODS, ("test", "full"), PUBLISHED)

if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
