"""cae_sim: group unlabeled images and find the most similar ones.

>>> from cae_sim import Pipeline
>>> pipeline = Pipeline(n_clusters="auto").fit("photos/")   # doctest: +SKIP
>>> pipeline.query("photos/cat.jpg", n=5)                    # doctest: +SKIP
"""

from .augment import Augment
from .clustering import KMeansClustering
from .encoders import ContrastiveEncoder, ConvAutoencoder, DHash, Encoder, Ensemble, PHash, PretrainedEncoder
from .images import ImageReadError, find_images, read_image
from .index import NeighborIndex, SklearnIndex
from .matching import MatchReport, match
from .memory import tune_malloc
from .pipeline import Match, Pipeline, SkippedImagesWarning

__version__ = "0.1.0"

__all__ = [
    "Augment",
    "ContrastiveEncoder",
    "ConvAutoencoder",
    "DHash",
    "Encoder",
    "Ensemble",
    "ImageReadError",
    "KMeansClustering",
    "Match",
    "MatchReport",
    "NeighborIndex",
    "PHash",
    "Pipeline",
    "PretrainedEncoder",
    "SklearnIndex",
    "SkippedImagesWarning",
    "find_images",
    "match",
    "read_image",
    "tune_malloc",
]
