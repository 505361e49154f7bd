"""Encoders learned on the user's images over a frozen ImageNet backbone: the directions of issue 8, as experiment methods.

Each ``*_method`` returns a method for ``clustering_benchmark.run``: ``method(images, k, seed) -> (labels, pipeline)``.

- ``contrastive_method``: an NT-Xent head over EfficientNet-Lite0's pooled features, trained on augmented views
  (``cae_sim.ContrastiveEncoder``), grouped by K-Means or UMAP + GMM.
- ``feature_map_cae_method``: a convolutional autoencoder trained on Lite0's last feature maps (h × w × 1280)
  instead of on pixels; its bottleneck codes are grouped by K-Means or UMAP + GMM.

Their baseline, the frozen pooled features, is ``pipeline_method(encoder="efficientnet_lite0", image_size=side, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from cae_sim import ContrastiveEncoder, Pipeline, PretrainedEncoder
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


def last_feature_map(classifier: keras.Model):
    """The output of the classifier's last layer with a spatial (4-d) output: what ``layer="pool"`` averages."""
    return next(layer.output for layer in reversed(classifier.layers) if len(layer.output.shape) == 4)


def group(codes: np.ndarray, k: int, seed: int, clustering: str) -> np.ndarray:
    """Labels of K-Means on the L2-normalised codes, or of UMAP + GMM (``clustering="manifold"``)."""
    if clustering == "kmeans":
        return KMeansClustering(n_clusters=k, random_state=seed).fit(l2_normalize(codes)).labels_
    return ManifoldClustering(n_clusters=k, random_state=seed).fit(codes).labels_


def contrastive_method(side: int, clustering: str, augment: str = "simclr", views: int = 4, epochs: int = 100) -> Method:
    """A ``ContrastiveEncoder`` head over Lite0's pooled features at ``side`` px."""

    def run(images: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, Pipeline]:
        backbone = PretrainedEncoder(model=BACKBONE, layer="pool", input_size=side)
        encoder = ContrastiveEncoder(backbone=backbone, views=views, augment=augment, epochs=epochs, random_state=seed)
        pipeline = Pipeline(n_clusters=k, random_state=seed, encoder=encoder, clustering=clustering).fit(images)
        return pipeline.labels_, pipeline

    return run


def feature_map_autoencoder(maps: np.ndarray, code_size: int = 32, epochs: int = 30, seed: int = 0) -> np.ndarray:
    """Train a small convolutional autoencoder on feature maps (N, h, w, c); return its codes (N, code_size).

    Each channel is standardised first, so that reconstruction weighs every channel alike.
    """
    scaled = (maps - maps.mean(axis=(0, 1, 2))) / (maps.std(axis=(0, 1, 2)) + 1e-6)
    height, width, channels = scaled.shape[1:]
    keras.utils.set_random_seed(seed)  # an experiment script may seed the process; the library never does
    inputs = keras.Input(scaled.shape[1:])
    hidden = keras.layers.Conv2D(256, 1, activation="relu")(inputs)
    hidden = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(hidden)
    code = keras.layers.Dense(code_size, name="code")(keras.layers.Flatten()(hidden))
    hidden = keras.layers.Dense(height * width * 64, activation="relu")(code)
    hidden = keras.layers.Reshape((height, width, 64))(hidden)
    hidden = keras.layers.Conv2D(256, 3, padding="same", activation="relu")(hidden)
    outputs = keras.layers.Conv2D(channels, 1)(hidden)
    autoencoder = keras.Model(inputs, outputs)
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    autoencoder.fit(scaled, scaled, batch_size=128, epochs=epochs, shuffle=True, verbose=0)
    return keras.Model(inputs, code).predict(scaled, batch_size=512, verbose=0).astype(np.float32)


def feature_map_cae_method(side: int, clustering: str) -> Method:
    """A convolutional autoencoder trained on Lite0's last feature maps at ``side`` px."""

    def run(images: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, None]:
        (maps,) = backbone_outputs(images, side, lambda classifier: [last_feature_map(classifier)])
        return group(feature_map_autoencoder(maps, seed=seed), k, seed, clustering), None

    return run
