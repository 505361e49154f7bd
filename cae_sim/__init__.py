"""cae_sim: group unlabeled images and find the most similar ones.

>>> from cae_sim import Pipeline
>>> pipeline = Pipeline(n_clusters="auto").fit("photos/")   # doctest: +SKIP
>>> pipeline.query("photos/cat.jpg", n=5)                    # doctest: +SKIP
"""

import os

# TensorFlow's C++ start-up notices drown the library's own output; a user's setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .clustering import KMeansClustering  # noqa: E402
from .encoders import ConvAutoencoder, Encoder  # noqa: E402
from .images import ImageReadError, find_images, read_image  # noqa: E402
from .index import NeighborIndex, SklearnIndex  # noqa: E402
from .pipeline import Match, Pipeline  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ConvAutoencoder",
    "Encoder",
    "ImageReadError",
    "KMeansClustering",
    "Match",
    "NeighborIndex",
    "Pipeline",
    "SklearnIndex",
    "find_images",
    "read_image",
]
