"""Encoders turn images into codes; a name picks one (``Pipeline(encoder="cae")``).

``ENCODERS`` is the registry of their names: each encoder's module registers its class with
``@ENCODERS.register(name)``, and importing the module here is all a new encoder needs. Every ImageNet backbone of
``BACKBONES`` is a name of ``PretrainedEncoder`` (its ``model`` parameter).
"""

from __future__ import annotations

from .._registry import BACKBONES, ENCODERS
from .autoencoder import ConvAutoencoder
from .base import Encoder
from .contrastive import ContrastiveEncoder
from .ensemble import Ensemble
from .feature_autoencoder import FeatureMapAutoencoder
from .hashing import DHash, PHash
from .pretrained import PretrainedEncoder


def encoder_class(name: str) -> type[Encoder]:
    """Return the encoder class registered under ``name``.

    Raises
    ------
    ValueError
        If no encoder has that name, naming it and the names there are; or for ``"ensemble"``, which is given by
        its members.
    """
    if name == "ensemble":  # registered so that saves load; by name it would have no members
        raise ValueError("an ensemble is given by its members' names, e.g. encoder=['efficientnet_lite0', 'mobilenet_v2']")
    if not isinstance(name, str) or name not in ENCODERS:
        names = ", ".join(["auto", *(n for n in ENCODERS.names() if n != "ensemble")])
        raise ValueError(f"unknown encoder {name!r}; choose one of: {names}")
    return ENCODERS[name]


__all__ = [
    "BACKBONES", "ENCODERS", "ContrastiveEncoder", "ConvAutoencoder", "DHash", "Encoder", "Ensemble", "FeatureMapAutoencoder", "PHash", "PretrainedEncoder", "encoder_class"
]
