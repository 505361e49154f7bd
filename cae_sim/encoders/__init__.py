"""Encoders turn images into codes; a name picks one (``Pipeline(encoder="cae")``)."""

from __future__ import annotations

from .autoencoder import ConvAutoencoder
from .base import Encoder
from .contrastive import ContrastiveEncoder
from .ensemble import Ensemble
from .feature_autoencoder import FeatureMapAutoencoder
from .hashing import DHash, PHash
from .backbones import BACKBONES
from .pretrained import PretrainedEncoder

#: Encoder classes by registered name; a new encoder is one file plus one line here.
#: Every ImageNet backbone is a name of PretrainedEncoder (its ``model`` parameter).
ENCODERS: dict[str, type[Encoder]] = {
    "cae": ConvAutoencoder,
    "contrastive": ContrastiveEncoder,
    "ensemble": Ensemble,
    "feature_cae": FeatureMapAutoencoder,
    "phash": PHash,
    "dhash": DHash,
    **{name: PretrainedEncoder for name in BACKBONES},
}


def encoder_class(name: str) -> type[Encoder]:
    """Return the encoder class registered under ``name``.

    Raises
    ------
    ValueError
        If no encoder has that name.
    """
    if name == "ensemble":  # registered so that saves load; by name it would have no members
        raise ValueError("an ensemble is given by its members' names, e.g. encoder=['efficientnet_lite0', 'mobilenet_v2']")
    try:
        return ENCODERS[name]
    except (KeyError, TypeError):
        names = ", ".join(["auto", *sorted(n for n in ENCODERS if n != "ensemble")])
        raise ValueError(f"unknown encoder {name!r}; choose one of: {names}") from None


__all__ = [
    "BACKBONES", "ENCODERS", "ContrastiveEncoder", "ConvAutoencoder", "DHash", "Encoder", "Ensemble", "FeatureMapAutoencoder", "PHash", "PretrainedEncoder", "encoder_class"
]
