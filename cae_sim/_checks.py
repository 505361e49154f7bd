"""Small argument checks shared by the modules; each raises ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer in [``minimum``, ``maximum``]; raise ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an int <= {maximum}, got {value!r}")
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
    if not _among(value, choices):
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


# --------------------------------------------------------------------------- declared parameter checks
#
# An estimator declares, in its ``_parameter_constraints`` class attribute, one check per ``__init__`` parameter:
# a function called with the parameter's name and value that raises ValueError naming both unless the value is
# allowed. ``check_int``, ``check_positive`` and ``check_fraction`` are such checks; the factories below make more.

#: A declared parameter check: ``check(name, value)`` raises ValueError naming both unless the value is allowed.
ParameterCheck = Callable[[str, Any], Any]


def validate_params(constraints: Mapping[str, ParameterCheck], params: Mapping[str, Any]) -> None:
    """Run each parameter's declared check on its value.

    Parameters
    ----------
    constraints : mapping of str to ParameterCheck
        The check of each parameter, by name.
    params : mapping of str to object
        The parameters' values (``get_params(deep=False)``).

    Raises
    ------
    ValueError
        From the first check that fails, naming the parameter and its value.
    TypeError
        If a parameter has no declared check (a mistake of the estimator, not of its user).
    """
    undeclared = sorted(set(params) - set(constraints))
    if undeclared:
        raise TypeError(f"no declared check for the parameters {undeclared}")
    for name, value in params.items():
        constraints[name](name, value)


def at_least(minimum: int, maximum: int | None = None) -> ParameterCheck:
    """The check of an int (not a bool) >= ``minimum`` (and <= ``maximum`` if given)."""
    return partial(check_int, minimum=minimum, maximum=maximum)


def none_or(check: ParameterCheck) -> ParameterCheck:
    """The check that lets None through and gives any other value to ``check``."""

    def check_none_or(name: str, value):
        return None if value is None else check(name, value)

    return check_none_or


def one_of(choices, what: str | None = None) -> ParameterCheck:
    """The check of a value among ``choices``; ``what`` names the kind of thing in the message ("backbone")."""

    def check_one_of(name: str, value):
        if what is not None and not _among(value, choices):
            raise ValueError(f"unknown {what} {value!r}: {name} must be one of {sorted(choices)}")
        return check_choice(name, value, choices)

    return check_one_of


def satisfies(predicate: Callable[[Any], bool], description: str) -> ParameterCheck:
    """The check of a value for which ``predicate`` is true; ``description`` says what it must be ("a list of ...")."""

    def check_predicate(name: str, value):
        if not predicate(value):
            raise ValueError(f"{name} must be {description}, got {value!r}")
        return value

    return check_predicate


def _among(value, choices) -> bool:
    try:
        return value in choices
    except TypeError:  # an unhashable value is in no set or mapping
        return False


def check_seed(name: str, value) -> int | None:
    """Return ``value`` if it is None or a non-negative int seed; raise ValueError naming ``name`` otherwise."""
    return None if value is None else check_int(name, value, minimum=0)
