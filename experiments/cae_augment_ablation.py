"""Does training the CAE to reconstruct clean images from augmented ones help clustering?

On two sets in one run — scikit-learn's 1,797 digits (8×8, gray) and the 2,000
CIFAR-10 cats and dogs (32×32, colour) — each with the raw-pixel baseline and the
pretrained encoder: ``Pipeline(encoder="cae", n_clusters=k, random_state=0)``,
and the same with ``ConvAutoencoder(augment=...)`` under a mild geometric policy
(rotation, shift, zoom: the ImageDataGenerator set of DEC-DA) and SimCLR's.
Same epochs (25, early stopping) and image size as the plain CAE; seconds in the table.

    python experiments/cae_augment_ablation.py
"""

from __future__ import annotations

from benchlib import write_results
from clustering_benchmark import kmeans_raw_pixels, pipeline_method, run
from datasets import load_digits, load_dogs_cats
from cae_sim import ConvAutoencoder
from cae_sim.defaults import auto_image_size
from cae_sim import tune_malloc

MILD = dict(rotation=10, shift=0.1, zoom=0.1)


def methods(side: int) -> dict:
    size = auto_image_size(side)
    return {
        "K-Means on raw pixels": kmeans_raw_pixels,
        "pretrained efficientnet_lite0": pipeline_method(encoder="efficientnet_lite0", clustering="kmeans"),
        "cae": pipeline_method(encoder="cae"),
        "cae, augment mild geometric": pipeline_method(encoder=ConvAutoencoder(image_size=size, augment=MILD, random_state=0)),
        "cae, augment simclr": pipeline_method(encoder=ConvAutoencoder(image_size=size, augment="simclr", random_state=0)),
    }


def main() -> dict:
    rows = []
    for name, (images, labels) in {"digits": load_digits(), "dogs_cats": load_dogs_cats()}.items():
        rows += run(methods(images.shape[1]), images, labels, split=name)[0]
    payload = {"measured": rows, "mild_policy": MILD}
    print("wrote", write_results("cae_augment_ablation", **payload))
    return payload


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
