"""What ``encoder="auto"`` gives every collection: one default, chosen by the evaluation suite's rule.

``efficientnet_lite0``'s pooled ImageNet features, grouped with K-Means: the rule of ``docs/defaults.md`` applied
to the collections of ``experiments/suite.py`` (the table: ``docs/suite.md``). No rule by size, colour or the
images' content: the former one, whose constants were fitted to a few sets, is measured there beside it
(``experiments/former_default.py``).
"""

from __future__ import annotations

from typing import NamedTuple

#: The default encoder and the settings it gets: pooled features, which say which image an image is as well as
#: what it shows (ImageNet class scores say only the latter).
DEFAULT_ENCODER, DEFAULT_SETTINGS = "efficientnet_lite0", {"layer": "pool"}


class EncoderChoice(NamedTuple):
    """What ``encoder="auto"`` picked: the encoder's name, the settings it gives it, and why."""

    name: str
    why: str
    settings: dict
    manifold: bool  # cluster the codes on a UMAP manifold (from MANIFOLD_MIN_IMAGES images)

    def describe(self) -> str:
        """The line ``train`` prints and ``Pipeline.encoder_choice_`` keeps."""
        return f"{self.name} ({self.why})"


def choose_encoder() -> EncoderChoice:
    """The encoder of ``encoder="auto"``: the same for every collection (see this module's docstring).

    Returns
    -------
    EncoderChoice
    """
    why = "the default: pooled ImageNet features, K-Means; see docs/defaults.md"
    return EncoderChoice(DEFAULT_ENCODER, why, dict(DEFAULT_SETTINGS), manifold=False)
