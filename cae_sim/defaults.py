"""Every automatic rule of cae_sim in one place: what ``"auto"`` and ``None`` settings resolve to.

The encoder of ``encoder="auto"`` is ``efficientnet_lite0``'s pooled ImageNet features grouped with K-Means for
every collection: the rule of ``docs/defaults.md`` applied to the collections of ``experiments/suite.py`` (the
table: ``docs/suite.md``). No rule by size, colour or the images' content: the former one is measured there beside
it (``experiments/former_default.py``). The resolved choices are recorded on the fitted ``Model``.
"""

from __future__ import annotations

from typing import NamedTuple

#: The default encoder and the settings it gets: pooled features, which say which image an image is as well as
#: what it shows (ImageNet class scores say only the latter).
DEFAULT_ENCODER, DEFAULT_SETTINGS = "efficientnet_lite0", {"layer": "pool"}
#: index="auto" searches exactly (NumPy) below this many codes and with FAISS from it on.
AUTO_FAISS_MIN_CODES = 100_000
#: The FAISS index index="auto" takes for large sets.
AUTO_FAISS_INDEX = "faiss-ivf"
#: From this many images on, clustering="auto" embeds the autoencoder's codes with UMAP before clustering them.
MANIFOLD_MIN_IMAGES = 1000


class EncoderChoice(NamedTuple):
    """What ``encoder="auto"`` picked: the encoder's name, the settings it gives it, and why."""

    name: str
    why: str
    settings: dict
    manifold: bool  # cluster the codes on a UMAP manifold (from MANIFOLD_MIN_IMAGES images)

    def describe(self) -> str:
        """The line ``train`` prints and ``Model.encoder_choice_`` keeps."""
        return f"{self.name} ({self.why})"


def choose_encoder() -> EncoderChoice:
    """The encoder of ``encoder="auto"``: the same for every collection (see this module's docstring).

    Returns
    -------
    EncoderChoice
    """
    why = "the default: pooled ImageNet features, K-Means; see docs/defaults.md"
    return EncoderChoice(DEFAULT_ENCODER, why, dict(DEFAULT_SETTINGS), manifold=False)


def auto_image_size(side: int) -> int:
    """The autoencoder's input side for images of a typical ``side``: rounded up to a multiple of 8, in [16, 64].

    Small images are not blown up (training time grows with the pixels), large ones are brought down to 64.
    """
    return int(min(64, max(16, -(-side // 8) * 8)))


def choose_clustering(clustering: str, manifold: bool, n_images: int) -> str:
    """The clustering that ``clustering`` names: ``"auto"`` is ``"manifold"`` for encoders whose codes group on a
    UMAP manifold (``manifold``) from ``MANIFOLD_MIN_IMAGES`` images on, else ``"kmeans"``."""
    if clustering != "auto":
        return clustering
    return "manifold" if manifold and n_images >= MANIFOLD_MIN_IMAGES else "kmeans"


def choose_index(index: str, n_codes: int) -> str:
    """The index that ``index`` names: ``"auto"`` searches exactly below ``AUTO_FAISS_MIN_CODES`` codes and with
    ``AUTO_FAISS_INDEX`` from there on."""
    if index != "auto":
        return index
    return "exact" if n_codes < AUTO_FAISS_MIN_CODES else AUTO_FAISS_INDEX
