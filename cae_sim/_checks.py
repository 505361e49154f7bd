"""Small argument checks shared by the modules; each raises ValueError naming the argument."""

from __future__ import annotations

import numpy as np


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``; raise ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_positive(name: str, value) -> float:
    """Return ``value`` as a float if it is a number > 0 (not a bool); raise ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_fraction(name: str, value) -> float:
    """Return ``value`` as a float if it lies in [0, 1); raise ValueError otherwise."""
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_random_state(value) -> int | None:
    """Return ``value`` if it is None or a non-negative int seed; raise ValueError otherwise."""
    return None if value is None else check_int("random_state", value, minimum=0)


def check_n_clusters(value) -> int | str:
    """Return ``value`` if it is "auto" or an int >= 1; raise ValueError otherwise."""
    if value == "auto":
        return value
    if isinstance(value, str):
        raise ValueError(f"n_clusters must be 'auto' or an int >= 1, got {value!r}")
    return check_int("n_clusters", value)


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``; raise ValueError otherwise."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_codes(codes, dimension: int | None = None, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as a C-contiguous float32 (N, d) array with finite values.

    Raises
    ------
    ValueError
        If the array is not 2-d, is empty, holds NaN or inf, or its width is not ``dimension``.
    """
    array = np.asarray(codes)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-d array (n_samples, n_features); got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric; got dtype {array.dtype}")
    if dimension is not None and array.shape[1] != dimension:
        raise ValueError(f"{name} must have {dimension} features, got {array.shape[1]}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} hold NaN or infinite values")
    return array
