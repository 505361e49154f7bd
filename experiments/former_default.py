"""The rule ``encoder="auto"`` followed until the evaluation suite replaced it (docs/suite.md), kept so that the
suite can measure it beside the new default. Not part of the library.

- colour images, and gray ones of 64 px and more: ``efficientnet_lite2``'s 1,000 ImageNet class scores;
- small gray images that ImageNet's classifier recognises (clothes, gray photos): ``efficientnet_lite0``'s
  class scores at 160 px, clustered on a UMAP manifold;
- other small gray images (digits, glyphs, sketches, faces): the convolutional autoencoder, on a UMAP manifold.

Its constants were fitted to the sets of ``experiments/``; on the suite it had the best mean rank but fell 0.13
below efficientnet_lite0 pooled + K-Means on the LFW subset, so by docs/defaults.md it could not stay.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from cae_sim.defaults import EncoderChoice
from cae_sim.images import is_colour, read_sample, typical_side

#: Gray images whose typical side is below this are small: the autoencoder may suit them.
AUTO_CAE_MAX_SIDE = 64
#: The pretrained CNN for colour or larger images, and its layer: the 1,000 ImageNet class scores, which group
#: photos better than the pooled features and than EfficientNet-Lite0's (CIFAR cats and dogs 0.827 against 0.746
#: for Lite0's pooled features, food photos 0.439 against 0.391: means over 5 K-Means seeds).
AUTO_PRETRAINED, AUTO_PRETRAINED_LAYER = "efficientnet_lite2", "logits"
#: The pretrained CNN for small gray images ImageNet recognises, and its settings: Lite0 at 160 px, slower Lite2
#: would not fit a quarter of an hour; all 70,000 Fashion-MNIST images, UMAP included, took 579 s and 799 s in two
#: runs on 2 cores, for 0.673 against the autoencoder's 0.597.
SMALL_PRETRAINED, SMALL_PRETRAINED_SETTINGS = "efficientnet_lite0", {"layer": "logits", "input_size": 160}
#: Side at which the sample is shown to AUTO_PRETRAINED's classifier, and the sample's size.
PROBE_SIDE, PROBE_SAMPLE = 160, 256
#: Mean top-class probability from which small gray images count as recognised. Measured over 256 images:
#: MNIST 0.38–0.41, scikit-learn digits 0.37, faces (LFW) 0.33; Fashion-MNIST 0.55–0.57, CIFAR cats and
#: dogs in gray 0.53–0.55, food photos in gray at 48 px 0.55–0.58.
RECOGNISED = 0.47


def imagenet_confidence(items, sample: int = PROBE_SAMPLE) -> float:
    """How sure ImageNet's classifier is of what the images show: its mean top-class probability.

    ``AUTO_PRETRAINED``'s classifier looks at an even sample of at most
    ``sample`` images, at ``PROBE_SIDE`` px; unreadable files are passed over.

    Parameters
    ----------
    items : list of paths or ndarray
        Image files, or an image array (N, H, W) or (N, H, W, C).
    sample : int
        Most images looked at.

    Returns
    -------
    float in (0, 1]; 0.0 if none of the sampled images can be read.
    """
    from cae_sim.encoders.pretrained import PretrainedEncoder  # TensorFlow: imported when the rule needs it

    images = read_sample(items, PROBE_SIDE, sample)
    if not len(images):
        return 0.0
    classifier = PretrainedEncoder(model=AUTO_PRETRAINED, layer="logits", input_size=PROBE_SIDE).fit()
    return float(softmax(classifier.encode(images), axis=1).max(axis=1).mean())


def choose_encoder(items, side: int | None = None) -> EncoderChoice:
    """Pick the encoder for a folder's files or an image array (the rule in this module's docstring).

    Parameters
    ----------
    items : list of paths or ndarray
        Image files, or an image array (N, H, W) or (N, H, W, C).
    side : int, optional
        The images' ``typical_side``, where the caller has it already.

    Returns
    -------
    EncoderChoice
    """
    side, colour = typical_side(items) if side is None else side, is_colour(items)
    described = f"{'colour' if colour else 'gray'} images, typical side {side} px"
    if colour or side >= AUTO_CAE_MAX_SIDE:
        why = f"{described}: ImageNet class scores, layer={AUTO_PRETRAINED_LAYER!r}"
        return EncoderChoice(AUTO_PRETRAINED, why, {"layer": AUTO_PRETRAINED_LAYER}, manifold=False)
    confidence = imagenet_confidence(items)
    if confidence >= RECOGNISED:
        why = f"{described}, ImageNet confidence {confidence:.2f} >= {RECOGNISED}: class scores at {SMALL_PRETRAINED_SETTINGS['input_size']} px, on a UMAP manifold"
        return EncoderChoice(SMALL_PRETRAINED, why, dict(SMALL_PRETRAINED_SETTINGS), manifold=True)
    why = f"{described}, ImageNet confidence {confidence:.2f} < {RECOGNISED}: an autoencoder trained on them"
    return EncoderChoice("cae", why, {}, manifold=True)
