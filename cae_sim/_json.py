"""How parameters that are objects are written to the JSON of a save (of format 1, and an encoder's ``member.json``).

Encoders are recognised by ``ENCODERS``, which ``cae_sim.encoders`` fills: this module imports no encoder.
"""

from __future__ import annotations

import os

import numpy as np

from ._registry import ENCODERS
from .augment import Augment


#: The key that marks an encoder object's JSON form: ``{ENCODER_KEY: name, "params": {...}}``.
ENCODER_KEY = "__encoder__"


def to_json(value):
    """``json.dumps`` default: an encoder by its registered name and parameters, a policy by its keywords, arrays as lists.

    Raises
    ------
    TypeError
        For any other object.
    """
    name = ENCODERS.name_of(value)
    if name is not None:
        return {ENCODER_KEY: name, "params": value.get_params(deep=False)}
    if isinstance(value, Augment):  # its keywords rebuild it
        return value.get_params()
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def from_json(mapping: dict):
    """``json.loads`` object hook: turn the JSON form of an encoder object back into an unfitted encoder.

    Raises
    ------
    ValueError
        If it names no registered encoder.
    """
    if ENCODER_KEY not in mapping:
        return mapping
    name = mapping[ENCODER_KEY]
    if not isinstance(name, str) or name not in ENCODERS or not isinstance(mapping.get("params"), dict):
        raise ValueError(f"a saved encoder parameter names no registered encoder: {name!r}")
    return ENCODERS[name](**mapping["params"])
