"""Clustering Fashion-MNIST: raw-pixel K-Means, the default cae_sim pipeline, the autoencoder and efficientnet_lite0.

    python experiments/fashion_mnist_clustering.py                   # test (10k), then full (70k)
    python experiments/fashion_mnist_clustering.py --splits test     # the quick one

Every method runs on both splits unless --methods says otherwise; on the full
split efficientnet_lite0 at its own 224 px takes about a quarter of an hour
on 2 cores, at 160 px about ten minutes. Writes
experiments/results/fashion_mnist_clustering.json and PNGs.
"""

from __future__ import annotations

from clustering_benchmark import experiment_main, kmeans_raw_pixels, pipeline_method
from datasets import load_fashion_mnist
from learned_heads import contrastive_method, feature_map_cae_method
from cae_sim import tune_malloc

METHODS = {
    "K-Means on raw pixels": kmeans_raw_pixels,
    "cae_sim default": pipeline_method(),
    "autoencoder (encoder='cae')": pipeline_method(encoder="cae"),
    "efficientnet_lite0 + K-Means": pipeline_method(encoder="efficientnet_lite0", clustering="kmeans"),
    "efficientnet_lite0 + UMAP + GMM": pipeline_method(encoder="efficientnet_lite0", clustering="manifold"),
    "efficientnet_lite0 at 160 px + K-Means": pipeline_method(encoder="efficientnet_lite0", image_size=160, clustering="kmeans"),
    "efficientnet_lite0 at 160 px + UMAP + GMM": pipeline_method(encoder="efficientnet_lite0", image_size=160, clustering="manifold"),
    "contrastive head on efficientnet_lite0 at 160 px + K-Means": contrastive_method(160, "kmeans"),
    "contrastive head on efficientnet_lite0 at 160 px + UMAP + GMM": contrastive_method(160, "manifold"),
    "autoencoder on efficientnet_lite0's feature maps at 160 px + K-Means": feature_map_cae_method(160, "kmeans"),
    "autoencoder on efficientnet_lite0's feature maps at 160 px + UMAP + GMM": feature_map_cae_method(160, "manifold"),
    "autoencoder on efficientnet_lite0's feature maps at 160 px, 15 epochs + K-Means": feature_map_cae_method(160, "kmeans", epochs=15),
}

PUBLISHED = [{"method": "N2D", "acc": 0.672, "source": "McConville et al. 2020, N2D (ICPR)"}]

def main() -> None:
    experiment_main("fashion_mnist_clustering", __doc__, load_fashion_mnist, METHODS, ("test", "full"), PUBLISHED)

if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
