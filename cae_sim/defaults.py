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


# --------------------------------------------------------------------------- the trainable encoders' settings

#: Most pixels (per channel) in one training batch of the autoencoder: 256 images of 32 × 32.
AUTOENCODER_BATCH_PIXELS = 256 * 32 * 32
#: Fewer held-out images than this give too noisy a loss to stop training on: the training loss is watched instead.
MIN_VALIDATION_IMAGES = 32
#: Largest contrastive training batch: NT-Xent gains from many negatives, and the batch's similarity matrix stays cheap.
CONTRASTIVE_MAX_BATCH = 512


def autoencoder_batch_size(n_images: int, image_size: int) -> int:
    """The autoencoder's images per training step when ``batch_size=None``.

    About 64 steps per epoch, between 16 and 256 images, and at most
    ``AUTOENCODER_BATCH_PIXELS`` pixels a channel: larger images get smaller
    batches, so a step needs the same memory at every size.
    """
    most = max(16, AUTOENCODER_BATCH_PIXELS // (image_size * image_size))
    return int(min(256, most, max(16, n_images // 64)))


def validation_size(n_images: int, validation_split: float) -> int:
    """Images held out to stop training on: ``validation_split`` of them, or none if that is fewer than
    ``MIN_VALIDATION_IMAGES``."""
    n_validation = int(n_images * validation_split)
    return n_validation if n_validation >= MIN_VALIDATION_IMAGES else 0


def contrastive_batch_size(n_images: int, batch_size: int | None) -> int:
    """The contrastive encoder's images per step: ``batch_size``, or ``CONTRASTIVE_MAX_BATCH`` when None; at most
    ``n_images``."""
    return min(batch_size or CONTRASTIVE_MAX_BATCH, n_images)
