"""Clustering MNIST: raw-pixel K-Means, the default cae_sim pipeline and the pretrained encoder, beside published results.

    python experiments/mnist_clustering.py                      # MNIST-test (10k) and MNIST-full (70k)
    python experiments/mnist_clustering.py --splits test        # the quick one
    python experiments/mnist_clustering.py --methods "cae_sim default"       # rows of other methods are kept

Writes experiments/results/mnist_clustering.json ({"measured": [...], "published": [...]}) and PNGs.
"""

from __future__ import annotations

from clustering_benchmark import experiment_main, kmeans_raw_pixels, pipeline_method
from datasets import load_mnist
from cae_sim import tune_malloc

METHODS = {
    "K-Means on raw pixels": kmeans_raw_pixels,
    "cae_sim default": pipeline_method(),
    "efficientnet_lite0 + K-Means": pipeline_method(encoder="efficientnet_lite0", clustering="kmeans"),
    "efficientnet_lite0 + UMAP + GMM": pipeline_method(encoder="efficientnet_lite0", clustering="manifold"),
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
    experiment_main("mnist_clustering", __doc__, load_mnist, METHODS, ("test", "full"), PUBLISHED)


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
