"""What the commands do with a save: load it with their own verbosity; save it atomically, then write
``clusters.csv`` beside the manifest."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..exports import CLUSTERS_FILE, write_clusters_csv

if TYPE_CHECKING:
    from ..pipeline import Pipeline


def load_save(directory: str, verbose: int) -> Pipeline:
    """Load the save in ``directory`` with progress bars on (``verbose`` 1) or off (0), whatever the save recorded.

    A loaded model keeps the verbosity of the run that saved it, and ``Pipeline.set_params(verbose=...)`` sets the
    pipeline's parameter only: the model that encodes is told too, so ``--quiet`` holds for a save trained without it
    and progress shows for one trained with it.
    """
    from ..pipeline import Pipeline

    pipeline = Pipeline.load(directory).set_params(verbose=verbose)
    pipeline.model_.set_params(verbose=verbose)
    return pipeline


def save_with_clusters(pipeline: Pipeline, directory: str) -> None:
    """Save ``pipeline`` into ``directory`` (replacing it atomically), then write its clusters.csv there anew."""
    pipeline.save(directory)
    write_clusters_csv(pipeline, clusters_file(directory))


def clusters_file(directory: str) -> str:
    """The clusters.csv of the save in ``directory``."""
    return os.path.join(directory, CLUSTERS_FILE)
