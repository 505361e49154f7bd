"""A convolutional autoencoder learned on the user's images, over a frozen ImageNet CNN's last feature maps.

Pixels tell images apart by colour and layout; a CNN's last feature maps
(5 × 5 × 1,280 for EfficientNet-Lite0 at 160 px) already know shapes and
parts. The autoencoder learns which of those the user's images vary in, and
squeezes them into a short code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._checks import at_least, check_int, check_positive, check_seed, one_of
from ..progress import Progress
from .._registry import ENCODERS
from .backbones import BACKBONES
from .autoencoder import seeded_initializers
from .base import Encoder, built_adam, check_images, predict_batches, to_unit_float, train_epochs
from .litert import RUNTIMES
from .members import load_member, save_member
from .pretrained import MIN_INPUT_SIZE, PretrainedEncoder, last_feature_map
from .saved_models import check_fits, read_history
from .trained import TrainedNetwork

if TYPE_CHECKING:  # Keras loads when a model is built, loaded or trained, not with the encoders
    import keras

MODEL_FILE = "feature_encoder.keras"
SCALING_FILE = "channel_scaling.npy"
HISTORY_FILE = "history.json"
BACKBONE_DIR = "backbone"
#: Filters of the 3 × 3 convolution on each side of the code.
SPATIAL_FILTERS = 64


@ENCODERS.register("feature_cae")
class FeatureMapAutoencoder(Encoder):
    """A convolutional autoencoder trained on a frozen pretrained CNN's last feature maps of the images.

    Each channel of the maps is standardised over the training images, so that
    the reconstruction weighs every channel alike. Encoder: 1 × 1 convolution
    to ``width`` channels, 3 × 3 convolution to 64, dense code; the decoder mirrors it.

    Parameters
    ----------
    backbone : str, default="efficientnet_lite0"
        A pretrained model's name (``BACKBONES``); its weights never change.
    input_size : int, default=160
        Side of the square images the backbone sees (32 or more).
    code_size : int, default=32
        Length of the code.
    width : int, default=256
        Channels of the 1 × 1 convolution that first compresses the maps.
    epochs : int, default=30
        Passes over the training images.
    batch_size : int, default=128
        Feature maps per training step.
    learning_rate : float, default=1e-3
        Adam's learning rate.
    max_train_images : int, default=10000
        The autoencoder trains on a random sample of at most this many images
        (every image is encoded); training time grows with the sample.
    random_state : int or None, default=None
        Seeds the sample, the shuffling and the weights (no process-wide seed is set).
    verbose : int, default=0
        0 silent; 1 progress bars of the feature maps and the training on standard error.
    runtime : {"litert", "keras"}, default="litert"
        What runs the backbone up to its maps (``PretrainedEncoder.maps_network``)
        and the trained encoder (``trained.TrainedNetwork``): LiteRT or Keras.
        Training runs on Keras.

    Attributes
    ----------
    backbone_ : PretrainedEncoder
        The frozen CNN.
    network_ : TrainedNetwork
        The encoder on the runtime.
    maps_ : keras.Model or LiteRTModel
        The backbone up to its last feature map, on the runtime: preprocessed image → (h, w, c).
    channel_mean_, channel_std_ : ndarray of shape (c,)
        The standardisation of the maps' channels (the maps are rounded to float16 first).
    encoder_ : keras.Model
        Standardised maps → code (loaded on first use after ``load``).
    history_ : dict
        ``{"loss": [...]}``, the mean reconstruction loss of each epoch.
    """

    name = "feature_cae"
    _parameter_constraints = {
        "backbone": one_of(BACKBONES, what="pretrained model"),
        "input_size": at_least(MIN_INPUT_SIZE),
        "code_size": check_int,
        "width": check_int,
        "epochs": check_int,
        "batch_size": check_int,
        "learning_rate": check_positive,
        "max_train_images": check_int,
        "random_state": check_seed,
        "verbose": at_least(0),
        "runtime": one_of(RUNTIMES),
    }

    def __init__(
        self,
        *,
        backbone: str = "efficientnet_lite0",
        input_size: int = 160,
        code_size: int = 32,
        width: int = 256,
        epochs: int = 30,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        max_train_images: int = 10_000,
        random_state: int | None = None,
        verbose: int = 0,
        runtime: str = "litert",
    ):
        self.backbone = backbone
        self.input_size = input_size
        self.code_size = code_size
        self.width = width
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_train_images = max_train_images
        self.random_state = random_state
        self.verbose = verbose
        self.runtime = runtime

    @property
    def image_size(self) -> int:
        return self.input_size

    def fit(self, images: np.ndarray) -> "FeatureMapAutoencoder":
        """Compute the feature maps of (a sample of) the images and train the autoencoder on them.

        Parameters
        ----------
        images : ndarray of shape (N, input_size, input_size, 3)
            uint8 or float in [0, 1], N >= 2; a numpy memmap is read batch by batch.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On a bad parameter, or fewer than two images of the wrong shape.
        """
        self._fit_maps(images)
        return self

    def fit_encode(self, images: np.ndarray) -> np.ndarray:
        """Fit on images and return their codes; the backbone runs once over each image.

        The codes of the images the autoencoder trained on come from their
        feature maps computed for the training.

        Parameters
        ----------
        images : ndarray of shape (N, input_size, input_size, 3)
            uint8 or float in [0, 1], N >= 2; a numpy memmap is read batch by batch.

        Returns
        -------
        ndarray of shape (N, code_size), float32
            The codes ``encode(images)`` gives after the fit.
        """
        maps, sample = self._fit_maps(images)
        codes = np.empty((len(images), self.code_size), np.float32)
        codes[sample] = predict_batches(self._codes, maps, self.batch_size)
        rest = np.setdiff1d(np.arange(len(images)), sample)
        if len(rest):
            codes[rest] = predict_batches(self._image_codes, images, self.backbone_.batch_size, positions=rest)
        return codes

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return the (N, code_size) float32 codes of images (N, input_size, input_size, 3)."""
        check_is_fitted(self, "network_")
        check_images(images, self.input_size)
        return predict_batches(self._image_codes, images, self.backbone_.batch_size)

    def save(self, directory: Path) -> None:
        """Write the encoder half (``.keras``), the channel scaling (``.npy``), the loss history and the backbone."""
        check_is_fitted(self, "network_")
        directory = Path(directory)
        self.network_.save(directory / MODEL_FILE)
        np.save(directory / SCALING_FILE, np.stack([self.channel_mean_, self.channel_std_]), allow_pickle=False)
        (directory / HISTORY_FILE).write_text(json.dumps(self.history_))
        save_member(self.backbone_, directory / BACKBONE_DIR)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "FeatureMapAutoencoder":
        """Rebuild a fitted encoder from ``save``'s directory.

        Raises
        ------
        ValueError
            Naming the file, if the backbone, the scaling or the model is not the one ``params`` describe, or the
            model cannot be loaded safely.
        """
        directory = Path(directory)
        encoder = cls._from_params(params)
        backbone = load_member(directory / BACKBONE_DIR)
        described = (type(backbone).__name__, getattr(backbone, "model", None), backbone.image_size)
        check_fits(directory / BACKBONE_DIR, "encoder, model and input size", described,
                   (PretrainedEncoder.__name__, encoder.backbone, encoder.input_size))
        encoder._set_backbone(backbone)
        scaling = np.load(directory / SCALING_FILE, allow_pickle=False)
        check_fits(directory / SCALING_FILE, "rows", scaling.shape[:1], (2,))  # its width: checked with the model
        encoder.channel_mean_, encoder.channel_std_ = scaling.astype(np.float32)
        encoder.network_ = TrainedNetwork.load(directory / MODEL_FILE, **encoder._network_settings())
        encoder.history_ = read_history(directory / HISTORY_FILE)
        return encoder

    @property
    def encoder_(self) -> keras.Model:
        check_is_fitted(self, "network_")
        return self.network_.model

    def _network_settings(self) -> dict:
        """How ``TrainedNetwork`` runs and checks the encoder; its conversion is named by the backbone's weights and
        the channel scaling too."""
        scaling = hashlib.sha256(np.stack([self.channel_mean_, self.channel_std_]).tobytes()).hexdigest()
        signature = [self.backbone_.weights_sha256_, scaling, self.input_size, self.width, self.code_size]
        return dict(runtime=self.runtime, input_shape=self._maps_shape(), check=self._check_model,
                    signature=json.dumps(signature))

    def _maps_shape(self) -> tuple[int, int, int]:
        """The shape of one image's feature maps."""
        return tuple(int(side) for side in self.maps_.output_shape[1:])

    def _check_model(self, path: Path, encoder: keras.Model) -> None:
        """Raise ValueError naming ``path`` unless the loaded encoder takes the backbone's maps through ``width`` and
        ``SPATIAL_FILTERS`` filters to ``code_size``."""
        check_fits(path, "input shape", tuple(encoder.input_shape), (None, *self._maps_shape()))
        check_fits(path.with_name(SCALING_FILE), "shape", (2, *self.channel_mean_.shape), (2, self._maps_shape()[-1]))
        check_fits(path, "code shape", tuple(encoder.output_shape), (None, self.code_size))
        filters = [layer.filters for layer in encoder.layers if type(layer).__name__ == "Conv2D"]
        check_fits(path, "convolutions' filters", tuple(filters), (self.width, SPATIAL_FILTERS))

    # ------------------------------------------------------------------ helpers

    def _fit_maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Check, compute the feature maps of a sample of the images, train on them; return the maps and the
        sample's positions."""
        import keras
        self._validate_params()
        check_images(images, self.input_size, minimum=2)
        rng = np.random.default_rng(self.random_state)
        self._set_backbone(PretrainedEncoder(model=self.backbone, layer="logits", input_size=self.input_size,
                                             runtime=self.runtime).fit())
        sample = np.arange(len(images))
        if len(images) > self.max_train_images:
            sample = np.sort(rng.choice(len(images), self.max_train_images, replace=False))
        progress = Progress(len(sample), "feature maps") if self.verbose else None
        step = self.backbone_.batch_size
        maps = predict_batches(self._forward_maps, images, step, positions=sample, dtype=np.float16, progress=progress)
        self.channel_mean_, self.channel_std_ = _channel_moments(maps)
        autoencoder = self._build(maps.shape[1:], self.random_state)
        encoder = keras.Model(autoencoder.inputs, autoencoder.get_layer("code").output, name="feature_encoder")
        self.network_ = TrainedNetwork(encoder, **self._network_settings())
        self.history_ = self._train(autoencoder, maps, rng)
        return maps, sample

    def _set_backbone(self, backbone: PretrainedEncoder) -> None:
        self.backbone_ = backbone
        self.maps_ = backbone.maps_network()

    def _forward_maps(self, images: np.ndarray) -> np.ndarray:
        """The backbone's feature maps of images, rounded to float16 as the training's cache keeps them."""
        return np.asarray(self.maps_.predict_on_batch(self.backbone_.preprocess(to_unit_float(images))), np.float16)

    def _codes(self, maps: np.ndarray) -> np.ndarray:
        return self.network_.predict_on_batch(self._standardised(maps))

    def _image_codes(self, images: np.ndarray) -> np.ndarray:
        return self._codes(self._forward_maps(images))

    def _standardised(self, maps: np.ndarray) -> np.ndarray:
        return (maps.astype(np.float32) - self.channel_mean_) / self.channel_std_

    def _build(self, map_shape: tuple[int, int, int], seed: int | None) -> keras.Model:
        import keras
        from keras import layers
        init = seeded_initializers(seed)
        height, width, channels = map_shape
        inputs = keras.Input(map_shape)
        x = layers.Conv2D(self.width, 1, activation="relu", **init())(inputs)
        x = layers.Conv2D(SPATIAL_FILTERS, 3, padding="same", activation="relu", **init())(x)
        code = layers.Dense(self.code_size, name="code", **init())(layers.Flatten()(x))
        y = layers.Dense(height * width * SPATIAL_FILTERS, activation="relu", **init())(code)
        y = layers.Reshape((height, width, SPATIAL_FILTERS))(y)
        y = layers.Conv2D(self.width, 3, padding="same", activation="relu", **init())(y)
        outputs = layers.Conv2D(channels, 1, **init())(y)
        model = keras.Model(inputs, outputs, name="feature_autoencoder")
        model.compile(optimizer=built_adam(self.learning_rate, model.trainable_variables), loss="mse")
        return model

    def _train(self, autoencoder: keras.Model, maps: np.ndarray, rng: np.random.Generator) -> dict[str, list[float]]:
        """Train the autoencoder to reconstruct the standardised maps, every epoch; return the history."""

        def step(positions: np.ndarray) -> float:
            batch = self._standardised(maps[positions])
            return autoencoder.train_on_batch(batch, batch)

        batch_size = min(self.batch_size, len(maps))
        return train_epochs(step, np.arange(len(maps)), epochs=self.epochs, batch_size=batch_size, rng=rng, verbose=self.verbose)


def _channel_moments(maps: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's mean and standard deviation (+1e-6) over maps (n, h, w, c), in float64 a chunk at a time."""
    total, squares = np.zeros(maps.shape[-1]), np.zeros(maps.shape[-1])
    for start in range(0, len(maps), chunk):
        part = maps[start : start + chunk].astype(np.float64)
        total += part.sum(axis=(0, 1, 2))
        squares += np.square(part).sum(axis=(0, 1, 2))
    count = len(maps) * maps.shape[1] * maps.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0)) + 1e-6
    return mean.astype(np.float32), std.astype(np.float32)
