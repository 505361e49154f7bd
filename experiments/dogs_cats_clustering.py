"""Clustering 2,000 CIFAR-10 cats and dogs (32 px): raw pixels, the default, the autoencoder, efficientnet_lite0.

    python experiments/dogs_cats_clustering.py

Writes experiments/results/dogs_cats_clustering.json and PNGs.
"""

from __future__ import annotations

from clustering_benchmark import experiment_main, kmeans_raw_pixels, pipeline_method
from datasets import load_dogs_cats
from learned_heads import contrastive_method, feature_map_cae_method
from cae_sim import tune_malloc

METHODS = {
    "K-Means on raw pixels": kmeans_raw_pixels,
    "cae_sim default": pipeline_method(),
    "autoencoder (encoder='cae')": pipeline_method(encoder="cae"),
    "efficientnet_lite0 + K-Means": pipeline_method(encoder="efficientnet_lite0", clustering="kmeans"),
    "efficientnet_lite0 + UMAP + GMM": pipeline_method(encoder="efficientnet_lite0", clustering="manifold"),
    "contrastive head on efficientnet_lite0 + K-Means": contrastive_method(224, "kmeans"),
    "contrastive head on efficientnet_lite0 + UMAP + GMM": contrastive_method(224, "manifold"),
    "autoencoder on efficientnet_lite0's feature maps + K-Means": feature_map_cae_method(224, "kmeans"),
    "autoencoder on efficientnet_lite0's feature maps + UMAP + GMM": feature_map_cae_method(224, "manifold"),
}


def main() -> None:
    experiment_main("dogs_cats_clustering", __doc__, lambda split: load_dogs_cats(), METHODS, ("all",))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
