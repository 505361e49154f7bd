"""What the layers of a CNN respond to: activations of chosen layers, and a picture of them."""

from __future__ import annotations

import math
import os

import keras
import numpy as np

from .encoders.base import to_unit_float
from .encoders.pretrained import PretrainedEncoder
from .images import read_image
from .plots import tile_grid, write_image


def feature_maps(encoder: PretrainedEncoder, image, layers: list[str]) -> dict[str, np.ndarray]:
    """Return the activations of ``layers`` for one image.

    Parameters
    ----------
    encoder : PretrainedEncoder
        A fitted pretrained encoder (e.g. ``PretrainedEncoder(model="vgg16")``).
    image : str, path-like or ndarray
        One image, resized to the encoder's input size.
    layers : list of str
        Layer names, e.g. VGG16's ``["block1_pool", ..., "block5_pool"]``.

    Returns
    -------
    dict of str to ndarray of shape (height, width, channels), float32

    Raises
    ------
    ValueError
        If a layer does not exist or has no spatial output, or the image cannot be read.
    """
    classifier = encoder.classifier_
    if isinstance(layers, str) or not layers:
        raise ValueError(f"layers must be a non-empty list of layer names, got {layers!r}")
    outputs = []
    for name in layers:
        try:
            output = classifier.get_layer(name).output
        except ValueError:
            spatial = [layer.name for layer in classifier.layers if len(layer.output.shape) == 4]
            shown = ", ".join(spatial[:20]) + (f", … ({len(spatial)} in all)" if len(spatial) > 20 else "")
            raise ValueError(f"no layer {name!r} in {classifier.name}; its layers with feature maps: {shown}") from None
        if len(output.shape) != 4:
            raise ValueError(f"layer {name!r} has no spatial output (shape {output.shape})")
        outputs.append(output)
    probe = keras.Model(classifier.inputs, outputs)
    pixels = read_image(image, encoder.image_size)[np.newaxis]
    results = probe.predict_on_batch(encoder.preprocess(to_unit_float(pixels)))
    results = results if isinstance(results, (list, tuple)) else [results]
    return {name: np.asarray(result[0], np.float32) for name, result in zip(layers, results)}


def save_feature_grid(maps: np.ndarray, path: str | os.PathLike, max_channels: int = 64, tile: int = 64) -> None:
    """Write the channels of one layer's activations as a grid of gray tiles.

    Each channel is scaled to its own 0–255 range; the grid is about square.

    Parameters
    ----------
    maps : ndarray of shape (height, width, channels)
        One layer's activations, e.g. an entry of the dict ``feature_maps`` returns.
    path : str or path-like
        The image file to write; its extension names the format (PNG if it has none).
    max_channels : int
        How many channels to draw, the first ones.
    tile : int
        Side of a tile in pixels.

    Raises
    ------
    ValueError
        If ``maps`` is not a 3-d array.
    OSError
        If the image cannot be written.
    """
    if isinstance(maps, dict):
        raise ValueError(f"expected one layer's activations, got the dict of feature_maps: pass e.g. maps[{next(iter(maps), 'name')!r}]")
    if not isinstance(maps, np.ndarray) or maps.ndim != 3:
        raise ValueError(f"expected activations of shape (height, width, channels), got {getattr(maps, 'shape', type(maps).__name__)}")
    channels = maps[..., :max_channels]
    low = channels.min(axis=(0, 1), keepdims=True)
    span = np.maximum(channels.max(axis=(0, 1), keepdims=True) - low, 1e-12)
    tiles = list(np.moveaxis((channels - low) / span, -1, 0))  # each in [0, 1]
    columns = math.ceil(math.sqrt(len(tiles)))
    rows = [tiles[start : start + columns] for start in range(0, len(tiles), columns)]
    write_image(path, tile_grid(rows, columns, tile=tile, gap=2))
