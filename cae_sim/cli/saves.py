"""What every command that writes a save does: save atomically, then write ``clusters.csv`` beside the manifest."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..exports import CLUSTERS_FILE, write_clusters_csv

if TYPE_CHECKING:
    from ..pipeline import Pipeline


def save_with_clusters(pipeline: Pipeline, directory: str) -> None:
    """Save ``pipeline`` into ``directory`` (replacing it atomically), then write its clusters.csv there anew."""
    pipeline.save(directory)
    write_clusters_csv(pipeline, clusters_file(directory))


def clusters_file(directory: str) -> str:
    """The clusters.csv of the save in ``directory``."""
    return os.path.join(directory, CLUSTERS_FILE)
