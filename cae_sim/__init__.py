"""cae_sim: group unlabeled images and find the most similar ones.

>>> from cae_sim import Pipeline
>>> pipeline = Pipeline(n_clusters="auto").fit("photos/")   # doctest: +SKIP
>>> pipeline.query("photos/cat.jpg", n=5)                    # doctest: +SKIP
"""

from .clustering import KMeansClustering
from .encoders import ConvAutoencoder, Encoder, Ensemble, PretrainedEncoder
from .images import ImageReadError, find_images, read_image
from .index import NeighborIndex, SklearnIndex
from .pipeline import Match, Pipeline, SkippedImagesWarning

__version__ = "0.1.0"

__all__ = [
    "ConvAutoencoder",
    "Encoder",
    "Ensemble",
    "ImageReadError",
    "KMeansClustering",
    "Match",
    "NeighborIndex",
    "Pipeline",
    "PretrainedEncoder",
    "SklearnIndex",
    "SkippedImagesWarning",
    "find_images",
    "read_image",
]
