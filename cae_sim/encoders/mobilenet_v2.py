"""MobileNetV2 as torchvision builds it, in Keras, for torchvision's ImageNet weights.

keras.applications' MobileNetV2 differs from torchvision's in ways that break
ported weights: it pads stride-2 convolutions asymmetrically (TF 'same') where
torch pads 1 pixel on every side, and its batch-norm epsilon is 1e-3 where
torch's is 1e-5. Here every 3×3 convolution is a symmetric 1-pixel zero pad
followed by a 'valid' convolution, batch norm uses 1e-5, and layers are named
after the state dict's keys with dots as underscores (``features_2_conv_1_0``).
"""

from __future__ import annotations

import keras
from keras import layers

BN_EPSILON = 1e-5
# (expand ratio, output channels, repeats, first stride) of torchvision's mobilenet_v2
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
IMAGE_SIZE = 224


def torch_key(keras_name: str) -> str:
    """``features_2_conv_1_0`` → ``features.2.conv.1.0``."""
    return keras_name.replace("_", ".")


def _conv_bn_relu(x, filters: int, kernel: int, stride: int, prefix: str, depthwise: bool = False):
    if kernel > 1:
        x = layers.ZeroPadding2D(kernel // 2)(x)
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, use_bias=False, name=f"{prefix}_0")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, use_bias=False, name=f"{prefix}_0")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_1")(x)
    return layers.ReLU(6.0)(x)


def build(name: str = "mobilenet_v2", image_size: int = IMAGE_SIZE) -> keras.Model:
    """Build MobileNetV2, named ``name``, taking ImageNet-normalised RGB of side ``image_size``; outputs the 1000
    logits."""
    inputs = keras.Input((image_size, image_size, 3))
    x = _conv_bn_relu(inputs, 32, 3, 2, "features_0")
    channels, index = 32, 1
    for expand, out_channels, repeats, first_stride in SETTINGS:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            prefix, part = f"features_{index}_conv", 0
            y = x
            if expand != 1:
                y = _conv_bn_relu(y, channels * expand, 1, 1, f"{prefix}_{part}")
                part += 1
            y = _conv_bn_relu(y, channels * expand, 3, stride, f"{prefix}_{part}", depthwise=True)
            y = layers.Conv2D(out_channels, 1, use_bias=False, name=f"{prefix}_{part + 1}")(y)
            y = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_{part + 2}")(y)
            x = layers.Add()([x, y]) if stride == 1 and channels == out_channels else y
            channels, index = out_channels, index + 1
    x = _conv_bn_relu(x, 1280, 1, 1, f"features_{index}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(1000, name="classifier_1")(x)
    return keras.Model(inputs, logits, name=name)
