"""How parameters that are objects are written to the JSON of a save."""

from __future__ import annotations

import os

import numpy as np

from .augment import Augment


def to_json(value):
    """``json.dumps`` default: an encoder by its registered name, a policy by its keywords, arrays as lists.

    Raises
    ------
    TypeError
        For any other object.
    """
    from .encoders.base import Encoder  # imported here: the encoders package imports this module

    if isinstance(value, Encoder):
        return value.name
    if isinstance(value, Augment):  # its keywords rebuild it
        return value.get_params()
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
