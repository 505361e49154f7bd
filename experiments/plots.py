"""Pictures of a clustering, drawn with OpenCV (no plotting library needed).

- ``cluster_grid``: for each cluster, its most central images in a row.
- ``reconstruction_pairs``: originals above the autoencoder's reconstructions.
- ``code_map``: a 2-D PCA map of the codes, one colour per cluster.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from sklearn.decomposition import PCA

TILE = 40


def _tile(image: np.ndarray, tile: int) -> np.ndarray:
    image = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
    if image.dtype != np.uint8:
        image = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return cv2.resize(image[..., :3], (tile, tile), interpolation=cv2.INTER_NEAREST)


def _grid(rows: list[list[np.ndarray]], columns: int, tile: int = TILE) -> np.ndarray:
    canvas = np.full((len(rows) * (tile + 4), columns * (tile + 4), 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row[:columns]):
            y, x = r * (tile + 4) + 2, c * (tile + 4) + 2
            canvas[y : y + tile, x : x + tile] = _tile(image, tile)
    return canvas


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def cluster_grid(images: np.ndarray, labels: np.ndarray, distances: np.ndarray, path: Path, per_cluster: int = 12) -> None:
    """One row per cluster: its ``per_cluster`` images nearest to the centre."""
    rows = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rows.append([images[i] for i in members[np.argsort(distances[members])][:per_cluster]])
    _write(path, _grid(rows, per_cluster))


def reconstruction_pairs(originals: np.ndarray, reconstructions: np.ndarray, path: Path) -> None:
    """Originals in the first row, their reconstructions below."""
    _write(path, _grid([list(originals), list(reconstructions)], len(originals)))


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
    _write(path, canvas)
