"""Checks of what a store is given (codes, paths, metadata) and of what it reads (its settings)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._checks import check_choice, check_int
from ..distances import DISTANCES

DTYPES = ("float16", "float32")
INDEXES = ("auto", "exact", "compressed")
#: The largest value float16 holds.
FLOAT16_MAX = float(np.finfo(np.float16).max)
#: The metadata a store keeps for each image.
METADATA = ("size", "sha256")


def checked_codes(codes, width: int, dtype: np.dtype, block_rows: int, name: str = "codes") -> np.ndarray:
    """``codes`` as an array, if (n, ``width``), floating-point, finite and within ``dtype``'s range; checked
    ``block_rows`` at a time, so that the check holds no copy of the codes.

    Raises
    ------
    ValueError
        Naming what is wrong (and the first row holding NaN or infinity).
    """
    array = np.asarray(codes)
    if array.ndim != 2 or array.shape[1] != width or not len(array):
        raise ValueError(f"{name} must be a non-empty (n, {width}) array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be floating-point (float16, float32 or float64), got {array.dtype}")
    for start in range(0, len(array), block_rows):
        block = array[start:start + block_rows]
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise ValueError(f"{name} hold NaN or infinite values (row {start + int(np.flatnonzero(~finite)[0])})")
        if dtype == np.float16 and max(block.max(), -block.min()) > FLOAT16_MAX:
            raise ValueError(f"{name} hold values beyond float16's ±{FLOAT16_MAX:.0f}: make the store with dtype='float32'")
    return array


def check_settings(folder: Path, settings: dict, format_name: str, version: int) -> None:
    """Raise ValueError unless ``settings`` are those of a ``format_name`` store of ``version`` or an older one."""
    if settings.get("format") != format_name:
        raise ValueError(f"{str(folder)!r} is not a cae_sim store (format {settings.get('format')!r})")
    if str(settings.get("version", "")).isdigit() and int(settings["version"]) > version:
        raise ValueError(f"the store {str(folder)!r} is of format version {settings['version']}; this cae_sim reads up to {version}")
    try:
        check_int("version", int(settings["version"]))
        check_int("width", int(settings["width"]))
        check_int("segment_rows", int(settings["segment_rows"]))
        check_choice("dtype", settings["dtype"], DTYPES)
        check_choice("metric", settings["metric"], tuple(DISTANCES))
        check_choice("index", settings["index"], INDEXES)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"the store {str(folder)!r} is damaged: its settings do not fit ({error})") from error


def checked_paths(paths, n: int) -> list[str]:
    """``paths`` as a list of ``n`` non-empty strings (``os.fsdecode``d); ValueError otherwise."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise ValueError(f"paths must be a list of paths, one per code, got {paths!r:.80}")
    paths = [os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else path for path in paths]
    if len(paths) != n:
        raise ValueError(f"{n} codes and {len(paths)} paths: give one path per code")
    bad = [path for path in paths if not isinstance(path, str) or not path]
    if bad:
        raise ValueError(f"paths must be non-empty strings or path-likes, got {bad[0]!r:.80}")
    return paths


def checked_metadata(metadata: dict | None, n: int) -> dict[str, list]:
    """``metadata`` as lists of ``n`` values by name, if its names are ``METADATA``'s and its values fit; ValueError
    otherwise."""
    metadata = dict(metadata or {})
    unknown = sorted(set(metadata) - set(METADATA))
    if unknown:
        raise ValueError(f"unknown metadata {unknown[0]!r}: a store keeps {', '.join(METADATA)}")
    for name, values in metadata.items():
        if len(values) != n:
            raise ValueError(f"metadata {name!r} has {len(values)} values for {n} codes")
    sizes = metadata.get("size", [])
    if not all(isinstance(size, (int, np.integer)) and size >= 0 for size in sizes):
        raise ValueError("metadata 'size' must be ints ≥ 0 (bytes)")
    hashes = metadata.get("sha256", [])
    if not all(isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h) for h in hashes):
        raise ValueError("metadata 'sha256' must be 64 lower-case hex digits each")
    return {name: [int(v) for v in values] if name == "size" else list(values) for name, values in metadata.items()}
