"""Pictures of a clustering, drawn with OpenCV (no plotting library needed).

- ``cluster_grid``: for each cluster, its most central images in a row.
- ``reconstruction_pairs``: originals above the autoencoder's reconstructions.
- ``code_map``: a 2-D PCA map of the codes, one colour per cluster.

The grids are drawn and every picture is written by ``cae_sim.plots``; the folder must exist.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from sklearn.decomposition import PCA

from cae_sim.plots import tile_grid, write_image


def cluster_grid(images: np.ndarray, labels: np.ndarray, distances: np.ndarray, path: Path, per_cluster: int = 12) -> None:
    """One row per cluster: its ``per_cluster`` images nearest to the centre."""
    rows = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rows.append([images[i] for i in members[np.argsort(distances[members])][:per_cluster]])
    write_image(path, tile_grid(rows, per_cluster))


def reconstruction_pairs(originals: np.ndarray, reconstructions: np.ndarray, path: Path) -> None:
    """Originals in the first row, their reconstructions below."""
    write_image(path, tile_grid([list(originals), list(reconstructions)]))


def code_map(codes: np.ndarray, labels: np.ndarray, path: Path, size: int = 600, max_points: int = 5000) -> None:
    """Scatter the first two principal components of the codes, coloured by cluster."""
    rng = np.random.default_rng(0)
    picked = rng.choice(len(codes), min(max_points, len(codes)), replace=False)
    xy = PCA(n_components=2, random_state=0).fit_transform(codes[picked])
    xy = (xy - xy.min(axis=0)) / np.maximum(np.ptp(xy, axis=0), 1e-12) * (size - 20) + 10
    hues = (np.asarray(labels)[picked] * 180 // max(1, int(np.max(labels)) + 1)).astype(np.uint8)
    colours = cv2.cvtColor(np.stack([hues, np.full_like(hues, 220), np.full_like(hues, 220)], -1)[None], cv2.COLOR_HSV2RGB)[0]
    canvas = np.full((size, size, 3), 255, np.uint8)
    for (x, y), colour in zip(xy.astype(int), colours):
        cv2.circle(canvas, (int(x), int(y)), 2, tuple(int(c) for c in colour), -1)
    write_image(path, canvas)
