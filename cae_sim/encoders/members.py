"""Encoders inside encoders (an ensemble's members, a contrastive encoder's backbone): build, save, load."""

from __future__ import annotations

import json
from pathlib import Path

from sklearn.base import clone

from .._json import from_json, to_json
from .._registry import BACKBONES, ENCODERS
from .base import Encoder
from .pretrained import PretrainedEncoder

MEMBER_FILE = "member.json"


def member_encoder(spec) -> Encoder:
    """An unfitted encoder from a pretrained model's name or an Encoder object (cloned).

    Raises
    ------
    ValueError
        If ``spec`` is neither.
    """
    if isinstance(spec, Encoder):
        return clone(spec)
    if not isinstance(spec, str) or spec not in BACKBONES:
        raise ValueError(f"expected a pretrained model name ({', '.join(BACKBONES.names())}) or an Encoder object; got {spec!r}")
    return PretrainedEncoder(model=spec)


def is_fitted(encoder: Encoder) -> bool:
    """True if the encoder holds learned state (an attribute ending in ``_``), as scikit-learn decides."""
    return any(name.endswith("_") and not name.startswith("__") for name in vars(encoder))


def save_member(encoder: Encoder, directory: Path) -> None:
    """Save a fitted encoder into a new sub-directory, with its registered name and parameters."""
    directory.mkdir()
    encoder.save(directory)
    described = {"name": encoder.name, "params": encoder.get_params(deep=False)}
    (directory / MEMBER_FILE).write_text(json.dumps(described, default=to_json))


def load_member(directory: Path) -> Encoder:
    """Rebuild an encoder written by ``save_member``."""
    described = json.loads((directory / MEMBER_FILE).read_text(), object_hook=from_json)
    if described.get("name") not in ENCODERS:
        raise ValueError(f"damaged save: {directory / MEMBER_FILE} names no registered encoder ({described.get('name')!r})")
    return ENCODERS[described["name"]].load(directory, described["params"])

