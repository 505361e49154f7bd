"""Pictures drawn with OpenCV alone (no plotting library): grids of image tiles, written as image files.

>>> from cae_sim.plots import tile_grid, write_image
>>> write_image("grid.png", tile_grid([[image_a, image_b], [image_c]]))   # doctest: +SKIP
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from ._checks import check_int
from .images import to_rgb_uint8


def tile_grid(rows: list[list[np.ndarray]], columns: int | None = None, tile: int = 40, gap: int = 4) -> np.ndarray:
    """Draw images as square tiles in rows on a white canvas.

    Parameters
    ----------
    rows : list of list of ndarray
        The images of each row, left to right; a row may be shorter than the others, or empty.
        Each image is gray (H, W) or (H, W, 1), or RGB (H, W, 3); uint8, uint16, or float in [0, 1].
    columns : int, optional
        Cells per row of the canvas; by default, the length of the longest row.
    tile : int
        Side of a tile in pixels; each image is resized to it (nearest neighbour, so pixels stay sharp).
    gap : int
        White pixels between neighbouring tiles; half of it (rounded down) also surrounds the grid.

    Returns
    -------
    ndarray of shape (len(rows) * (tile + gap), columns * (tile + gap), 3), uint8
        The RGB canvas: row ``r``'s image ``c`` fills the square at
        ``(r * (tile + gap) + gap // 2, c * (tile + gap) + gap // 2)``.

    Raises
    ------
    ValueError
        If there is no image, a row holds more than ``columns`` images, or ``tile``, ``gap`` or ``columns`` is invalid.
    """
    longest = max(map(len, rows), default=0)
    if not longest:
        raise ValueError("tile_grid needs at least one image")
    columns = longest if columns is None else check_int("columns", columns)
    tile, gap = check_int("tile", tile), check_int("gap", gap, minimum=0)
    if longest > columns:
        raise ValueError(f"a row holds {longest} images, more than columns={columns}")
    cell = tile + gap
    canvas = np.full((len(rows) * cell, columns * cell, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top, left = r * cell + gap // 2, c * cell + gap // 2
            canvas[top : top + tile, left : left + tile] = _tile(image, tile)
    return canvas


def _tile(image: np.ndarray, tile: int) -> np.ndarray:
    """``image`` as an RGB uint8 square of side ``tile``."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
        raise ValueError(f"expected a gray (H, W) or RGB (H, W, 3) image, got shape {image.shape}")
    return cv2.resize(to_rgb_uint8(image), (tile, tile), interpolation=cv2.INTER_NEAREST)


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image to ``path``, in the format its extension names (PNG if it has none).

    The folder must exist. Non-ASCII paths work (the file is encoded in memory, then written).

    Parameters
    ----------
    path : str or path-like
    rgb : ndarray of shape (H, W, 3), uint8

    Raises
    ------
    ValueError
        If ``rgb`` is not a uint8 array of shape (H, W, 3).
    OSError
        If OpenCV cannot encode the image in that format or the file cannot be written; the message names the file.
    """
    path, rgb = os.fspath(path), np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an RGB uint8 image of shape (H, W, 3), got {rgb.dtype} of shape {rgb.shape}")
    extension = os.path.splitext(path)[1] or ".png"
    try:
        ok, encoded = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error as error:
        raise OSError(f"cannot encode an image as {extension!r} for {path!r}: {error.err}") from None
    if not ok:
        raise OSError(f"cannot encode an image as {extension!r} for {path!r}")
    with open(path, "wb") as file:  # open's error names the file
        encoded.tofile(file)
