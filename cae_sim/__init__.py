"""cae_sim: group unlabeled images and find the most similar ones.

>>> from cae_sim import Pipeline
>>> pipeline = Pipeline(n_clusters="auto").fit("photos/")   # doctest: +SKIP
>>> pipeline.query("photos/cat.jpg", n=5)                    # doctest: +SKIP

Names are imported on first use: ``import cae_sim`` does not load TensorFlow, so
the commands can quiet its start-up before it loads.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_MODULES = {
    "Augment": ".augment",
    "ContrastiveEncoder": ".encoders",
    "ConvAutoencoder": ".encoders",
    "DHash": ".encoders",
    "Encoder": ".encoders",
    "Ensemble": ".encoders",
    "FeatureMapAutoencoder": ".encoders",
    "ImageReadError": ".images",
    "Clustering": ".clustering",
    "KMeansClustering": ".clustering",
    "ManifoldClustering": ".clustering",
    "Added": ".pipeline",
    "CodeStore": ".store",
    "Collection": ".collection",
    "Match": ".collection",
    "Model": ".model",
    "MatchReport": ".matching",
    "NeighborIndex": ".index",
    "PHash": ".encoders",
    "Pipeline": ".pipeline",
    "PretrainedEncoder": ".encoders",
    "ExactIndex": ".index",
    "FaissIndex": ".index",
    "SkippedImagesWarning": ".model",
    "find_images": ".images",
    "match": ".matching",
    "read_image": ".images",
    "tune_malloc": ".memory",
}

#: Submodules reachable as attributes (``cae_sim.index.ExactIndex``) after a bare ``import cae_sim``.
_SUBMODULES = {
    "augment", "clustering", "codes", "collection", "defaults", "distances", "distributed", "encoders", "feature_maps", "images",
    "index", "matching", "memory", "metrics", "model", "persistence", "pipeline", "plots",
    "store",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # importing sets it as an attribute
    if name not in _MODULES:
        raise AttributeError(f"module 'cae_sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULES[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES) | _SUBMODULES)
