"""Encoders learned on the user's images over a frozen ImageNet backbone: the directions of issue 8, as experiment methods.

Each ``*_method`` returns a method for ``clustering_benchmark.run``: ``method(images, k, seed) -> (labels, pipeline)``.

- ``contrastive_method``: an NT-Xent head over EfficientNet-Lite0's pooled features, trained on augmented views
  (``cae_sim.ContrastiveEncoder``), grouped by K-Means or UMAP + GMM.
- ``feature_map_cae_method``: a convolutional autoencoder trained on Lite0's last feature maps (h × w × 1280)
  instead of on pixels (``cae_sim.FeatureMapAutoencoder``); its codes are grouped by K-Means or UMAP + GMM.

Their baseline, the frozen pooled features, is ``pipeline_method(encoder="efficientnet_lite0", image_size=side, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from cae_sim import ContrastiveEncoder, FeatureMapAutoencoder, Pipeline, PretrainedEncoder
from cae_sim.clustering import KMeansClustering, ManifoldClustering
from cae_sim.codes import l2_normalize
from cae_sim.encoders.base import to_unit_float
from cae_sim.images import resize, to_rgb_uint8

BACKBONE, BATCH = "efficientnet_lite0", 8
Method = Callable[[np.ndarray, int, int], tuple[np.ndarray, Pipeline | None]]


def backbone_outputs(images: np.ndarray, side: int, outputs: Callable[[keras.Model], list]) -> list[np.ndarray]:
    """Run Lite0 at ``side`` px over the images, returning the float32 values of ``outputs(classifier)``."""
    encoder = PretrainedEncoder(model=BACKBONE, layer="logits", input_size=side).fit()
    model = keras.Model(encoder.classifier_.inputs, outputs(encoder.classifier_))
    batches = []
    for start in range(0, len(images), BATCH):
        batch = np.stack([resize(to_rgb_uint8(image), side) for image in images[start : start + BATCH]])
        result = model.predict_on_batch(encoder.preprocess(to_unit_float(batch)))
        batches.append([np.asarray(part, np.float32) for part in (result if isinstance(result, list) else [result])])
    return [np.concatenate(parts) for parts in zip(*batches)]


def group(codes: np.ndarray, k: int, seed: int, clustering: str) -> np.ndarray:
    """Labels of K-Means on the L2-normalised codes, or of UMAP + GMM (``clustering="manifold"``)."""
    if clustering == "kmeans":
        return KMeansClustering(n_clusters=k, random_state=seed).fit(l2_normalize(codes)).labels_
    return ManifoldClustering(n_clusters=k, random_state=seed).fit(codes).labels_


def contrastive_method(side: int, clustering: str, augment: str = "simclr", views: int = 4, epochs: int = 100) -> Method:
    """A ``ContrastiveEncoder`` head over Lite0's pooled features at ``side`` px."""
    backbone = PretrainedEncoder(model=BACKBONE, layer="pool", input_size=side)
    return _encoder_method(
        lambda seed: ContrastiveEncoder(backbone=backbone, views=views, augment=augment, epochs=epochs, random_state=seed), clustering
    )


def feature_map_cae_method(side: int, clustering: str, epochs: int = 30) -> Method:
    """A ``FeatureMapAutoencoder``: a convolutional autoencoder trained on Lite0's last feature maps at ``side`` px."""
    return _encoder_method(
        lambda seed: FeatureMapAutoencoder(backbone=BACKBONE, input_size=side, epochs=epochs, random_state=seed), clustering
    )


def _encoder_method(make_encoder: Callable[[int], object], clustering: str) -> Method:
    def run(images: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, Pipeline]:
        pipeline = Pipeline(n_clusters=k, random_state=seed, encoder=make_encoder(seed), clustering=clustering).fit(images)
        return pipeline.labels_, pipeline

    return run
