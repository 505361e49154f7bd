"""Where images come from: a folder, a list of files or an array; and what they are like (size, colour)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .decoding import ImageReadError, check_image_array, read_file, read_file_bytes, resize, to_rgb_uint8
from .headers import image_dimensions

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def find_images(folder: str | os.PathLike) -> tuple[list[str], list[tuple[str, str]]]:
    """List the image files below a folder, recursively, in sorted order.

    Symbolic links are followed (each real directory is visited once, so a
    link loop ends). Extensions are matched without regard to case.

    Parameters
    ----------
    folder : str or path-like
        The folder to scan.

    Returns
    -------
    paths : list of str
        The image files found.
    skipped : list of (str, str)
        Entries named like images that are not files (directories), with why.

    Raises
    ------
    OSError
        If ``folder`` is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise OSError(f"not a directory: {str(folder)!r}")
    paths, skipped, seen = [], [], set()
    for directory, subdirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            subdirs.clear()
            continue
        seen.add(real)
        subdirs.sort()
        for name in subdirs:
            if _has_image_extension(name):
                skipped.append((os.path.join(directory, name), "is a directory"))
        paths.extend(os.path.join(directory, name) for name in files if _has_image_extension(name))
    return sorted(paths), sorted(skipped)


def _has_image_extension(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def resolve_source(images) -> tuple[Sequence | np.ndarray, list[str] | None, list[tuple[str, str]]]:
    """Turn what a user passes as images into something batches can be read from.

    Parameters
    ----------
    images : str, path-like, sequence of str / path-like, or ndarray
        A folder (scanned recursively), one image file, a list of image files,
        or an array of shape (N, H, W) or (N, H, W, C).

    Returns
    -------
    items : list of str or ndarray
        The file paths or the array of images.
    paths : list of str or None
        The files' absolute paths, or None for array input.
    skipped : list of (str, str)
        Entries of a folder that are not readable files.

    Raises
    ------
    ValueError
        If ``images`` is empty, or an array of the wrong shape or dtype.
    OSError
        If a path given does not exist.
    """
    if isinstance(images, np.ndarray):
        check_image_array(images)
        return images, None, []
    if isinstance(images, (str, os.PathLike)):
        if os.path.isdir(images):
            paths, skipped = find_images(os.path.abspath(images))
            if not paths:
                raise ValueError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in folder {str(images)!r}")
            return paths, paths, skipped
        if not os.path.lexists(images):
            raise OSError(f"no such file or folder: {str(images)!r}")
        return [os.path.abspath(images)], [os.path.abspath(images)], []
    if isinstance(images, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in images):
        if not images:
            raise ValueError("the list of image paths is empty")
        paths = [os.path.abspath(p) for p in images]
        return paths, paths, []
    raise ValueError(
        "images must be a folder, an image path, a list of paths or an array of shape "
        f"(N, H, W) or (N, H, W, C); got {type(images).__name__}"
    )


def _evenly(items: Sequence | np.ndarray, sample: int):
    """At most ``sample`` items, spread evenly over the sequence."""
    return items[:: max(1, len(items) // sample)][:sample]


def typical_side(items: Sequence | np.ndarray, sample: int = 16) -> int:
    """Median of the shorter side over (a sample of) the images; 0 if none can be read.

    Arrays give their own shape. Files are sampled evenly and measured from their headers.
    """
    if isinstance(items, np.ndarray):
        return int(min(items.shape[1:3]))
    sides = []
    for path in _evenly(items, sample):
        try:
            dimensions = image_dimensions(read_file_bytes(path))
        except (OSError, ImageReadError):  # unreadable: fit will skip and report it
            continue
        if dimensions is not None:
            sides.append(min(dimensions))
    return int(np.median(sides)) if sides else 0


#: Mean difference between an image's channels (of 255) above which it counts as a colour image.
COLOUR_THRESHOLD = 2.0


def is_colour(items: Sequence | np.ndarray, sample: int = 16) -> bool:
    """Whether at least half of (an even sample of) the images are in colour; False if none can be read.

    An image is in colour when its RGB channels differ by more than
    ``COLOUR_THRESHOLD`` (of 255) on average; gray images stored as RGB are not.
    """
    votes = []
    for item in _evenly(items, sample):
        try:
            rgb = to_rgb_uint8(item) if isinstance(items, np.ndarray) else read_file(item, 64)
        except (OSError, ValueError):  # unreadable: fit will skip and report it
            continue
        rgb = rgb.astype(np.int16)
        votes.append(np.abs(rgb - rgb[..., [1, 2, 0]]).mean() > COLOUR_THRESHOLD)
    return bool(votes) and float(np.mean(votes)) >= 0.5


def read_sample(items: Sequence | np.ndarray, size: int, sample: int) -> np.ndarray:
    """Read an even sample of at most ``sample`` images, resized to ``size``; unreadable files are passed over.

    Returns
    -------
    ndarray of shape (n, size, size, 3), uint8
        n is 0 if none of the sampled files can be read.
    """
    images = []
    for item in _evenly(items, sample):
        try:
            images.append(resize(to_rgb_uint8(item), size) if isinstance(items, np.ndarray) else read_file(item, size))
        except (OSError, ValueError):  # unreadable: fit will skip and report it
            continue
    return np.stack(images) if images else np.empty((0, size, size, 3), np.uint8)


def split_sample(images, size: int, random_state) -> tuple:
    """Split images into a random sample of ``size`` of them and the others.

    Returns
    -------
    (sample, others, skipped)
        The sample in the images' order, the others in theirs (None when there are no others), and the
        entries of a folder that are not readable files (as ``resolve_source`` gives them).
    """
    items, _, skipped = resolve_source(images)
    if len(items) <= size:
        return items, None, skipped
    picked = np.zeros(len(items), bool)
    picked[np.random.default_rng(random_state).choice(len(items), size, replace=False)] = True
    if isinstance(items, np.ndarray):
        return items[picked], items[~picked], skipped
    return [item for item, p in zip(items, picked) if p], [item for item, p in zip(items, picked) if not p], skipped
