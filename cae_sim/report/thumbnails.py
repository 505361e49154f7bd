"""Small JPEG copies of the collection's images, for the report's pages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import joblib
import numpy as np

from ..images import ImageReadError, read_thumbnail
from ..progress import Progress

#: Longer side of a thumbnail, in pixels (shown at half size in the grids, whole in the image panel).
THUMBNAIL_SIDE = 160
#: JPEG quality of the thumbnails: small files, no visible blocks at their size.
JPEG_QUALITY = 80
#: Drawn for an image that cannot be read any more (moved or broken since the pipeline was fitted).
PLACEHOLDER = np.full((THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3), 224, np.uint8)


def thumbnail_name(position: int) -> str:
    """File name of the thumbnail of the image at ``position``, inside the thumbnails folder."""
    return f"{position}.jpg"


def write_thumbnails(paths: list[str], folder: Path, n_jobs: int = -1, verbose: int = 0) -> list[tuple[str, str]]:
    """Write one thumbnail per image into ``folder`` (``thumbnail_name(i)`` for ``paths[i]``).

    An image that cannot be read gets a plain gray thumbnail, so the report has no broken image.

    Parameters
    ----------
    paths : list of str
        The image files, in the pipeline's order.
    folder : Path
        An existing folder.
    n_jobs : int
        Decoding threads; -1: one per core.
    verbose : int
        1 shows a progress bar.

    Returns
    -------
    list of (path, reason)
        The images that could not be read.
    """
    progress = Progress(len(paths), "thumbnails") if verbose else None
    unreadable = []
    with ThreadPoolExecutor(joblib.effective_n_jobs(n_jobs)) as pool:
        for path, reason in pool.map(lambda item: _write_one(*item, folder), enumerate(paths)):
            if reason is not None:
                unreadable.append((path, reason))
            if progress:
                progress.add()
    return unreadable


def _write_one(position: int, path: str, folder: Path) -> tuple[str, str | None]:
    try:
        rgb, reason = read_thumbnail(path, THUMBNAIL_SIDE), None
    except (ImageReadError, OSError) as error:
        rgb, reason = PLACEHOLDER, str(error)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"could not encode the thumbnail of {path}")
    (folder / thumbnail_name(position)).write_bytes(encoded.tobytes())
    return path, reason
