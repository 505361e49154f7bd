"""Clustering 542 real food photos into their 20 food groups: raw pixels, the default, the autoencoder, ImageNet features.

    python experiments/food_clustering.py

The photos (``datasets.load_food_photos``) are 307×173 JPEGs of single foods, squashed to 224 px; the groups are
uneven (2 to 92 photos). Writes experiments/results/food_clustering.json and PNGs.
"""

from __future__ import annotations

from clustering_benchmark import experiment_main, kmeans_raw_pixels, pipeline_method
from datasets import load_food_photos
from learned_heads import contrastive_method, feature_map_cae_method
from cae_sim import PretrainedEncoder, tune_malloc

METHODS = {
    "K-Means on raw pixels": kmeans_raw_pixels,
    "cae_sim default": pipeline_method(),
    "autoencoder (encoder='cae')": pipeline_method(encoder="cae"),
    "efficientnet_lite0 + K-Means": pipeline_method(encoder="efficientnet_lite0", clustering="kmeans"),
    "efficientnet_lite0 + UMAP + GMM": pipeline_method(encoder="efficientnet_lite0", clustering="manifold"),
    "efficientnet_lite0 logits + K-Means": pipeline_method(encoder=PretrainedEncoder(layer="logits"), clustering="kmeans"),
    "contrastive head on efficientnet_lite0 + K-Means": contrastive_method(224, "kmeans"),
    "contrastive head on efficientnet_lite0 + UMAP + GMM": contrastive_method(224, "manifold"),
    "autoencoder on efficientnet_lite0's feature maps + K-Means": feature_map_cae_method(224, "kmeans"),
    "autoencoder on efficientnet_lite0's feature maps + UMAP + GMM": feature_map_cae_method(224, "manifold"),
}


def main() -> None:
    experiment_main("food_clustering", __doc__, lambda split: load_food_photos(), METHODS, ("all",))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
