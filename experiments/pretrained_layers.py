"""Which ImageNet features group and find photos best: EfficientNet-Lite0 and -Lite2, pooled features or class scores.

    python experiments/pretrained_layers.py

On each labelled colour set (2,000 CIFAR-10 cats and dogs; 542 food photos in 20 food groups), in one run:

- grouping: K-Means (k = number of classes) on the L2-normalised codes, ACC / NMI / ARI as mean and standard
  deviation over 5 seeds;
- finding: the share of each image's 10 nearest other images (cosine) that are of its class (precision@10);
- the raw-pixel baseline: the images at 32×32, centred per image, through the same two measures.

This is the comparison behind ``encoder="auto"``'s choice for colour photos (``auto.AUTO_PRETRAINED``).
Writes experiments/results/pretrained_layers.json.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from benchlib import write_results
from cae_sim import Pipeline, PretrainedEncoder, tune_malloc
from cae_sim.clustering import KMeansClustering
from cae_sim.codes import l2_normalize
from cae_sim.metrics import clustering_scores
from datasets import load_dogs_cats, load_food_photos

DATA_SETS = {"cats and dogs": load_dogs_cats, "food photos": load_food_photos}
FEATURES = [(model, layer) for model in ("efficientnet_lite0", "efficientnet_lite2") for layer in ("pool", "logits")]
SEEDS = range(5)
NEAREST = 10
RAW_SIDE = 32


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """The images at 32×32, flattened and centred per image (so brightness alone does not make two alike)."""
    small = np.stack([cv2.resize(image, (RAW_SIDE, RAW_SIDE), interpolation=cv2.INTER_AREA) for image in images])
    flat = small.reshape(len(images), -1).astype(np.float32)
    return flat - flat.mean(axis=1, keepdims=True)


def grouping(codes: np.ndarray, labels: np.ndarray) -> dict:
    """Mean and standard deviation of ACC, NMI and ARI of K-Means over the seeds."""
    unit, k = l2_normalize(codes), len(np.unique(labels))
    runs = [clustering_scores(labels, KMeansClustering(n_clusters=k, random_state=seed).fit(unit).labels_) for seed in SEEDS]
    return {name: (float(np.mean([r[name] for r in runs])), float(np.std([r[name] for r in runs]))) for name in ("acc", "nmi", "ari")}


def precision_at_nearest(codes: np.ndarray, labels: np.ndarray) -> float:
    """Share of each image's NEAREST most cosine-similar other images that have its label."""
    unit = l2_normalize(codes)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argpartition(-similarity, NEAREST, axis=1)[:, :NEAREST]
    return float(np.mean(labels[nearest] == labels[:, None]))


def measure(codes: np.ndarray, labels: np.ndarray) -> dict:
    return {**grouping(codes, labels), "precision_at_10": precision_at_nearest(codes, labels)}


def encode(images: np.ndarray, model: str, layer: str) -> np.ndarray:
    """The codes of one model's layer, as a Pipeline computes them."""
    pipeline = Pipeline(encoder=PretrainedEncoder(model=model, layer=layer), n_clusters=2, clustering="kmeans").fit(images)
    return pipeline.codes_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args = parser.parse_args()
    results = {}
    for name, load in DATA_SETS.items():
        images, labels = load()
        rows = {"raw pixels": measure(raw_pixels(images), labels)}
        for model, layer in FEATURES:
            rows[f"{model} {layer}"] = measure(encode(images, model, layer), labels)
        results[name] = rows
        print(f"\n{name} ({len(images)} images, {len(np.unique(labels))} classes): K-Means over {len(SEEDS)} seeds, "
              f"and the share of the {NEAREST} nearest of the same class")
        print(f"{'features':32s} {'ACC':>13s} {'NMI':>13s} {'ARI':>13s} {'P@10':>6s}")
        for features, row in rows.items():
            cells = " ".join(f"{row[m][0]:.3f} ± {row[m][1]:.3f}" for m in ("acc", "nmi", "ari"))
            print(f"{features:32s} {cells} {row['precision_at_10']:6.3f}", flush=True)
    write_results("pretrained_layers", args, results=results)


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
