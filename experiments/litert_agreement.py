"""Do the LiteRT and Keras runtimes give the same codes? Every backbone whose weights ship offline, every layer.

    python experiments/litert_agreement.py

For ``efficientnet_lite0``, ``efficientnet_lite2`` and ``mobilenet_v2``, layers "pool" and "logits" (and "softmax"
for Lite0), the 56 real photos of ``datasets.load_real_photos()`` are resized as the library resizes arrays and
encoded by ``PretrainedEncoder(model=..., layer=..., runtime=...).encode`` with runtime "keras" and "litert".
Per backbone and layer (a: Keras, b: LiteRT):

- ``rel_l2_max``: the maximum over images of ‖a − b‖ / ‖a‖;
- ``rel_maxabs``: max |a − b| / max |a|, over all images and dimensions;
- ``top10_same``: the fraction of queries whose 10 nearest other photos (cosine) are the same set under both
  runtimes (and ``top10_overlap_mean``: the mean share of those 10 neighbours both runtimes find).

Issue 24's targets: codes within 1e-4 relative; the same top-10 neighbours for ≥ 99 % of queries.
Writes experiments/results/litert_agreement.json.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchlib import write_results
from cae_sim import tune_malloc
from cae_sim.encoders.litert import LiteRTModel
from cae_sim.encoders.pretrained import PretrainedEncoder
from cae_sim.images import resize, to_rgb_uint8
from datasets import load_real_photos

#: (backbone, layer) pairs compared: every offline backbone at "pool" and "logits", and "softmax" for Lite0.
FEATURES = [(model, layer) for model in ("efficientnet_lite0", "efficientnet_lite2", "mobilenet_v2")
            for layer in ("pool", "logits")] + [("efficientnet_lite0", "softmax")]
NEAREST = 10
TARGET_RELATIVE = 1e-4
TARGET_TOP10 = 0.99


def top_neighbours(codes: np.ndarray, k: int = NEAREST) -> np.ndarray:
    """(n, k) indices of each code's k nearest other codes by cosine similarity (itself excluded), as sorted rows."""
    unit = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    similarity = unit.astype(np.float64) @ unit.T.astype(np.float64)
    np.fill_diagonal(similarity, -np.inf)
    return np.sort(np.argpartition(-similarity, k, axis=1)[:, :k], axis=1)


def agreement(a: np.ndarray, b: np.ndarray, k: int = NEAREST) -> dict:
    """How far codes ``b`` are from reference codes ``a`` (one row per image): relative differences and top-k sets."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    relative = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(a, axis=1), 1e-30)
    near_a, near_b = top_neighbours(a, k), top_neighbours(b, k)
    same = np.all(near_a == near_b, axis=1)
    overlap = [len(np.intersect1d(x, y)) / k for x, y in zip(near_a, near_b)]
    return {
        "n_images": len(a),
        "dimensions": a.shape[1],
        "rel_l2_max": float(relative.max()),
        "rel_l2_median": float(np.median(relative)),
        "rel_maxabs": float(np.abs(a - b).max() / np.abs(a).max()),
        f"top{k}_same": float(same.mean()),
        f"top{k}_differing_queries": int((~same).sum()),
        f"top{k}_overlap_mean": float(np.mean(overlap)),
    }


def photos_at(photos: list[np.ndarray], side: int) -> np.ndarray:
    """The photos as the library reads arrays: RGB uint8, resized to ``side`` × ``side``."""
    return np.stack([resize(to_rgb_uint8(photo), side) for photo in photos])


def compare(model: str, layer: str, photos: list[np.ndarray]) -> dict:
    """Encode the photos on both runtimes; return the agreement figures and what ran."""
    keras_encoder = PretrainedEncoder(model=model, layer=layer, runtime="keras").fit()
    litert_encoder = PretrainedEncoder(model=model, layer=layer, runtime="litert").fit()
    if not isinstance(litert_encoder.features_, LiteRTModel):
        raise RuntimeError(f"{model} at {layer!r} did not run on LiteRT: features_ is {type(litert_encoder.features_)}")
    images = photos_at(photos, keras_encoder.image_size)
    a, b = keras_encoder.encode(images), litert_encoder.encode(images)
    return {"model": model, "layer": layer, "image_size": keras_encoder.image_size,
            "tflite": str(litert_encoder.features_.path), **agreement(a, b)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    photos = list(load_real_photos().values())
    rows = [compare(model, layer, photos) for model, layer in FEATURES]

    print(f"{len(photos)} real photos; a: Keras, b: LiteRT; targets: relative ≤ {TARGET_RELATIVE:g}, "
          f"top-{NEAREST} same ≥ {TARGET_TOP10:.0%}")
    print(f"{'backbone':20}{'layer':9}{'dims':>6}{'max ‖a−b‖/‖a‖':>16}{'max|a−b|/max|a|':>17}"
          f"{'top-10 same':>13}{'overlap':>9}")
    for row in rows:
        print(f"{row['model']:20}{row['layer']:9}{row['dimensions']:6d}{row['rel_l2_max']:16.2e}{row['rel_maxabs']:17.2e}"
              f"{row['top10_same']:12.1%} {row['top10_overlap_mean']:8.3f}")
    passed = all(row["rel_l2_max"] <= TARGET_RELATIVE and row["top10_same"] >= TARGET_TOP10 for row in rows)
    print("all within the targets" if passed else "NOT all within the targets")
    path = write_results("litert_agreement", results={
        "photos": len(photos), "nearest": NEAREST, "target_relative": TARGET_RELATIVE, "target_top10_same": TARGET_TOP10,
        "all_within_targets": passed, "rows": rows})
    print("wrote", path)


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
