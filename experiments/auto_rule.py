"""What the former encoder="auto" rule (former_default.py) picks on every data set of the experiments, and the ImageNet confidence it goes by.

    python experiments/auto_rule.py

For each set: the typical side, colour or gray, the mean top-class probability of ImageNet's classifier over the
rule's sample (``former_default.imagenet_confidence``, asked of every set, even those the rule does not ask it
of), and the rule's choice with its reason, as ``train`` prints it. The colour sets are measured in gray too
(CIFAR cats and dogs at 32 px, food photos at 48 px): small gray photos the rule should give to ImageNet's features.
Writes experiments/results/auto_rule.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from benchlib import write_results
from cae_sim import find_images
from former_default import choose_encoder, imagenet_confidence
from cae_sim.images import is_colour, typical_side
from datasets import load_digits, load_dogs_cats, load_fashion_mnist, load_food_photos, load_lfw_subset, load_mnist

DATA = Path(__file__).resolve().parent.parent / "data"


def gray(images: np.ndarray, side: int | None = None) -> np.ndarray:
    """Colour images in gray, shrunk to ``side`` if given."""
    out = np.stack([cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in images])
    return out if side is None else np.stack([cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA) for image in out])


SETS = {
    "scikit-learn digits (8 px gray)": lambda: load_digits()[0],
    "MNIST full (28 px gray)": lambda: load_mnist("full")[0],
    "Fashion-MNIST full (28 px gray)": lambda: load_fashion_mnist("full")[0],
    "faces and non-faces, LFW subset (25 px gray)": lambda: load_lfw_subset()[0],
    "CIFAR cats and dogs (32 px colour)": lambda: load_dogs_cats()[0],
    "CIFAR cats and dogs in gray (32 px)": lambda: gray(load_dogs_cats()[0]),
    "food photos (307×173 colour)": lambda: load_food_photos()[0],
    "food photos in gray at 48 px": lambda: gray(load_food_photos()[0], 48),
    "data/ sample photos (colour)": lambda: find_images(DATA)[0],
}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    rows = []
    for name, load in SETS.items():
        items = load()
        row = {
            "data": name,
            "typical_side": typical_side(items),
            "colour": is_colour(items),
            "imagenet_confidence": round(imagenet_confidence(items), 3),
            "choice": choose_encoder(items).describe(),
        }
        print(f"{name:46s} confidence {row['imagenet_confidence']:.3f}  ->  {row['choice']}", flush=True)
        rows.append(row)
    write_results("auto_rule", args, results=rows)


if __name__ == "__main__":
    main()
