"""What ImageNet features do for small gray images: EfficientNet-Lite0 at 160 px on all 70,000 Fashion-MNIST images.

    python experiments/small_gray_features.py

In one run, beside K-Means on raw pixels:

- Lite0's pooled features and its 1,000 class scores (one pass computes both);
- each grouped by K-Means on the L2-normalised features, by UMAP + a Gaussian mixture (the N2D recipe, as
  ``clustering="manifold"``), and by UMAP after PCA to 50 dimensions;
- each grouped by a SCAN-style head (Van Gansbeke et al. 2020): a small network over the features (PCA to 128)
  trained so that an image and one of its 20 nearest neighbours get the same cluster, with an entropy term that
  keeps clusters from collapsing.

This is the comparison behind ``encoder="auto"``'s choice for small gray images ImageNet recognises
(``auto.SMALL_PRETRAINED``). The features are cached in the datasets folder, so a second run only clusters.
Writes experiments/results/small_gray_features.json.

    python experiments/small_gray_features.py --spread

measures how much UMAP + GMM's result moves with its random state and number of neighbours instead
(experiments/results/small_gray_spread.json).
"""

from __future__ import annotations

import argparse
import itertools
import time

import keras
import numpy as np
import tensorflow as tf
from sklearn.decomposition import PCA

from benchlib import write_results
from clustering_benchmark import kmeans_raw_pixels
from cae_sim import tune_malloc
from cae_sim.clustering import ManifoldClustering
from cae_sim.codes import l2_normalize
from cae_sim.encoders.pretrained import _layer_output
from cae_sim.metrics import clustering_scores
from datasets import cache_dir, load_fashion_mnist
from learned_heads import backbone_outputs, group

SIDE, K, SEED = 160, 10, 0


def lite0_features(images: np.ndarray) -> dict[str, np.ndarray]:
    """Lite0's pooled features and class scores of every image at 160 px, cached as an .npz beside the data."""
    path = cache_dir() / f"fashion_mnist_full_lite0_{SIDE}.npz"
    if path.exists():
        with np.load(path) as cached:
            return dict(cached)
    pool, logits = backbone_outputs(images, SIDE, lambda classifier: [_layer_output(classifier, "pool"), classifier.outputs[0]])
    features = {"pool": pool, "logits": logits}
    np.savez(path.with_suffix(".tmp.npz"), **features)
    path.with_suffix(".tmp.npz").replace(path)
    return features


def kmeans(features: np.ndarray) -> np.ndarray:
    return group(features, K, SEED, "kmeans")


def manifold(features: np.ndarray) -> np.ndarray:
    return group(features, K, SEED, "manifold")


def pca_manifold(features: np.ndarray) -> np.ndarray:
    return manifold(PCA(50, random_state=SEED).fit_transform(features).astype(np.float32))


def nearest_neighbours(codes: np.ndarray, k: int) -> np.ndarray:
    """Each code's k nearest other codes by cosine, in blocks of rows."""
    unit = l2_normalize(codes)
    neighbours = np.empty((len(unit), k), np.int64)
    for start in range(0, len(unit), 2048):
        scores = unit[start : start + 2048] @ unit.T
        scores[np.arange(len(scores)), np.arange(start, start + len(scores))] = -np.inf
        neighbours[start : start + 2048] = np.argpartition(-scores, k, axis=1)[:, :k]
    return neighbours


def scan_head(features: np.ndarray, neighbours: int = 20, entropy_weight: float = 5.0, epochs: int = 40) -> np.ndarray:
    """SCAN's clustering step on frozen features: neighbours should agree, clusters should not collapse."""
    reduced = PCA(128, random_state=SEED).fit_transform(l2_normalize(features)).astype(np.float32)
    near = nearest_neighbours(reduced, neighbours)
    inputs = tf.constant((reduced - reduced.mean(0)) / reduced.std(0))
    keras.utils.set_random_seed(SEED)  # an experiment script may seed the process; the library never does
    head = keras.Sequential([keras.Input((inputs.shape[1],)), keras.layers.Dense(512, activation="relu"), keras.layers.Dense(K)])
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(anchors, partners):
        with tf.GradientTape() as tape:
            p = tf.nn.softmax(head(tf.gather(inputs, anchors)))
            q = tf.nn.softmax(head(tf.gather(inputs, partners)))
            agreement = -tf.reduce_mean(tf.math.log(tf.reduce_sum(p * q, axis=1) + 1e-8))
            mean = tf.reduce_mean(p, axis=0)
            loss = agreement + entropy_weight * tf.reduce_sum(mean * tf.math.log(mean + 1e-8))
        optimizer.apply_gradients(zip(tape.gradient(loss, head.trainable_variables), head.trainable_variables))

    rng = np.random.default_rng(SEED)
    for _ in range(epochs):
        order = rng.permutation(len(reduced))
        for start in range(0, len(order), 512):
            anchors = order[start : start + 512]
            step(tf.constant(anchors), tf.constant(near[anchors, rng.integers(0, neighbours, len(anchors))]))
    return np.argmax(head.predict(inputs, batch_size=4096, verbose=0), axis=1)


GROUPINGS = {"K-Means": kmeans, "UMAP + GMM": manifold, "PCA 50, UMAP + GMM": pca_manifold, "SCAN head": scan_head}


def measured(method: str, labels: np.ndarray, truth: np.ndarray, seconds: float) -> dict:
    scores = clustering_scores(truth, labels)
    print(f"{method:42s} acc {scores['acc']:.3f}  nmi {scores['nmi']:.3f}  ari {scores['ari']:.3f}  {seconds:6.1f} s", flush=True)
    return {"method": method, **scores, "seconds": round(seconds, 1)}


def seed_spread(features: dict[str, np.ndarray], truth: np.ndarray) -> list[dict]:
    """UMAP + GMM on both layers with 15 and 50 UMAP neighbours, each under random states 0, 1 and 2."""
    rows = []
    for layer, neighbours, seed in itertools.product(("pool", "logits"), (15, 50), (0, 1, 2)):
        start = time.perf_counter()
        labels = ManifoldClustering(n_clusters=K, n_neighbors=neighbours, random_state=seed).fit(features[layer]).labels_
        rows.append(measured(f"Lite0 {layer}, UMAP ({neighbours} neighbours) + GMM, seed {seed}", labels, truth, time.perf_counter() - start))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spread", action="store_true", help="only the seed spread of UMAP + GMM (small_gray_spread.json)")
    args = parser.parse_args()
    images, truth = load_fashion_mnist("full")
    start = time.perf_counter()
    rows = [measured("K-Means on raw pixels", kmeans_raw_pixels(images, K, SEED)[0], truth, time.perf_counter() - start)]
    start = time.perf_counter()
    features = lite0_features(images)
    print(f"Lite0 features at {SIDE} px: {time.perf_counter() - start:.0f} s (0 if cached)", flush=True)
    if args.spread:
        write_results("small_gray_spread", args, data="Fashion-MNIST full (70,000)", results=rows + seed_spread(features, truth))
        return
    for layer in ("pool", "logits"):
        for grouping, cluster in GROUPINGS.items():
            start = time.perf_counter()
            rows.append(measured(f"Lite0 {layer}, {grouping}", cluster(features[layer]), truth, time.perf_counter() - start))
    write_results("small_gray_features", args, data="Fashion-MNIST full (70,000)", results=rows)

if __name__ == "__main__":
    tune_malloc()
    main()
