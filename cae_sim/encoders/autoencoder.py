"""A convolutional autoencoder (Keras) whose bottleneck is the image code."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._checks import at_least, check_fraction, check_int, check_positive, check_seed, none_or, one_of, satisfies
from ..augment import make_augment
from ..defaults import autoencoder_batch_size, validation_size
from .._registry import ENCODERS
from .base import EarlyStopping, Encoder, built_adam, check_augment, check_images, predict_batches, to_uint8, to_unit_float, train_epochs
from .litert import RUNTIMES
from .saved_models import check_fits, model_layer, read_history
from .trained import TrainedNetwork

if TYPE_CHECKING:  # Keras loads when a model is built, loaded or trained, not with the encoders
    import keras

MODEL_FILE = "autoencoder.keras"
HISTORY_FILE = "history.json"
CODE_LAYER = "code"
DECODER_INPUT_LAYER = "decode"
#: Images per inference step.
PREDICT_BATCH = 256


def seeded_initializers(seed: int | None) -> Callable[[], dict]:
    """Layer keywords, one call per layer: a Glorot-uniform kernel initializer seeded ``seed``, ``seed + 1``, ...

    Each layer is seeded on its own, so no process-wide seed is set; with ``seed=None`` they are unseeded.
    """
    import keras
    seeds = itertools.count(seed or 0)

    def init() -> dict:
        return {"kernel_initializer": keras.initializers.GlorotUniform(seed=None if seed is None else next(seeds))}

    return init


def _positive_ints(values) -> bool:
    """True for a non-empty tuple or list of ints >= 1 (no bools)."""
    return (
        isinstance(values, (tuple, list))
        and len(values) > 0
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)
    )


@ENCODERS.register("cae")
class ConvAutoencoder(Encoder):
    """Convolutional autoencoder: strided convolutions → dense code → mirrored decoder.

    Parameters
    ----------
    image_size : int, default=64
        Side of the square input images; a multiple of ``2 ** len(filters)``.
    code_size : int, default=32
        Length of the code (the bottleneck).
    filters : tuple of int, default=(32, 64, 128)
        Filters of each stride-2 convolution of the encoder (the decoder mirrors them).
    epochs : int, default=25
        Most training epochs; early stopping may end sooner.
    batch_size : int or None, default=None
        Images per training step; None: ``defaults.autoencoder_batch_size`` of
        the number of images and their size (smaller batches for larger
        images, so a step needs the same memory at every size).
    learning_rate : float, default=1e-3
        Adam's learning rate.
    validation_split : float, default=0.1
        Fraction of images held out to stop early on their reconstruction loss.
        With 0, or when that is fewer than ``defaults.MIN_VALIDATION_IMAGES``
        images, all images train and the training loss is watched instead.
    patience : int, default=5
        Epochs without improvement before training stops (best weights are kept).
    augment : str, dict, Augment or None, default=None
        Train to reconstruct each clean image from a randomly augmented copy
        (a denoising autoencoder): a preset name (``"simclr"``, ``"degrade"``),
        ``Augment`` keywords, or a policy. None trains on the images as they are.
    random_state : int or None, default=None
        Seed of the weights, the shuffling, the split and the augmentation
        (no process-wide seed is set).
    verbose : int, default=0
        0 silent; 1 a progress bar of the training on standard error.
    runtime : {"litert", "keras"}, default="litert"
        What encodes once trained: the encoder half converted for LiteRT
        (about 1.4x Keras' speed, and a saved autoencoder encodes without
        TensorFlow; see ``trained.TrainedNetwork``), or Keras. Training runs on Keras.

    Attributes
    ----------
    network_ : TrainedNetwork
        The trained model and its encoder half on the runtime.
    autoencoder_ : keras.Model
        The whole model, image → reconstruction (loaded on first use after ``load``).
    encoder_ : keras.Model
        Its first half, image → code, in Keras.
    history_ : dict of str to list of float
        Loss (and validation loss) per epoch.
    """

    name = "cae"
    cluster_on_manifold = True
    _parameter_constraints = {
        "image_size": check_int,
        "code_size": check_int,
        "filters": satisfies(_positive_ints, "a non-empty tuple of positive ints"),
        "epochs": check_int,
        "batch_size": none_or(check_int),
        "learning_rate": check_positive,
        "validation_split": check_fraction,
        "patience": at_least(0),
        "augment": check_augment,
        "random_state": check_seed,
        "verbose": at_least(0),
        "runtime": one_of(RUNTIMES),
    }

    def __init__(
        self,
        *,
        image_size: int = 64,
        code_size: int = 32,
        filters: tuple[int, ...] = (32, 64, 128),
        epochs: int = 25,
        batch_size: int | None = None,
        learning_rate: float = 1e-3,
        validation_split: float = 0.1,
        patience: int = 5,
        augment=None,
        random_state: int | None = None,
        verbose: int = 0,
        runtime: str = "litert",
    ):
        self.image_size = image_size
        self.code_size = code_size
        self.filters = filters
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_split = validation_split
        self.patience = patience
        self.augment = augment
        self.random_state = random_state
        self.verbose = verbose
        self.runtime = runtime

    def fit(self, images: np.ndarray) -> "ConvAutoencoder":
        """Train on images.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            uint8 or float in [0, 1]; a numpy memmap is read batch by batch.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On a bad parameter, or images of the wrong shape.
        """
        train = self._fit_model(images)
        self._center_codes(self._predict(self.encoder_, images, positions=np.sort(train)))
        return self

    def fit_encode(self, images: np.ndarray) -> np.ndarray:
        """Train on images and return their codes, encoding each image once.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            uint8 or float in [0, 1]; a numpy memmap is read batch by batch.

        Returns
        -------
        ndarray of shape (N, code_size), float32
            The codes ``encode(images)`` gives after the fit.
        """
        train = self._fit_model(images)
        codes = self._predict(self.encoder_, images)
        return codes - self._center_codes(codes[train])

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return the codes of images.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            uint8 or float in [0, 1].

        Returns
        -------
        ndarray of shape (N, code_size), float32
        """
        return self._predict(self._fitted("network_"), images)

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """Return the autoencoder's reconstruction of images, float32 in [0, 1], same shape."""
        return self._predict(self._fitted("autoencoder_"), images)

    @property
    def autoencoder_(self) -> keras.Model:
        return self._fitted("network_").model

    @property
    def encoder_(self) -> keras.Model:
        return self._fitted("network_").inference_model

    def save(self, directory: Path) -> None:
        """Write the model (``.keras``) and the training history (JSON) into ``directory``."""
        self._fitted("network_").save(Path(directory) / MODEL_FILE)
        (Path(directory) / HISTORY_FILE).write_text(json.dumps(self.history_))

    @classmethod
    def load(cls, directory: Path, params: dict) -> "ConvAutoencoder":
        """Rebuild a fitted autoencoder from ``save``'s directory.

        Raises
        ------
        ValueError
            Naming the file, if the model cannot be loaded safely or is not the one ``params`` describe.
        """
        encoder = cls._from_params(params)
        encoder.network_ = TrainedNetwork.load(Path(directory) / MODEL_FILE, **encoder._network_settings())
        encoder.history_ = read_history(Path(directory) / HISTORY_FILE)
        return encoder

    def _network_settings(self) -> dict:
        """How ``TrainedNetwork`` runs and checks this autoencoder."""
        return dict(runtime=self.runtime, input_shape=(self.image_size, self.image_size, 3), inference=_encoder_half,
                    check=self._check_model, signature=json.dumps([self.image_size, self.code_size, list(self.filters)]))

    def _check_model(self, path: Path, autoencoder: keras.Model) -> None:
        """Raise ValueError naming ``path`` unless the loaded model has this encoder's shapes and filters."""
        model_layer(path, autoencoder, CODE_LAYER)
        encoder = _encoder_half(autoencoder)
        image_shape = (None, self.image_size, self.image_size, 3)
        check_fits(path, "input shape", tuple(autoencoder.input_shape), image_shape)
        check_fits(path, "output shape", tuple(autoencoder.output_shape), image_shape)
        check_fits(path, "code shape", tuple(encoder.output_shape), (None, self.code_size))
        convolutions = [layer.filters for layer in encoder.layers if type(layer).__name__ == "Conv2D"]
        check_fits(path, "encoder's filters", tuple(convolutions), tuple(self.filters))

    def _validate_params(self) -> None:
        """The declared checks, then the one between parameters: the encoder halves ``image_size`` per filter."""
        super()._validate_params()
        stride = 2 ** len(self.filters)
        if self.image_size % stride:
            raise ValueError(
                f"image_size must be a multiple of {stride} (the encoder halves it {len(self.filters)} times), got {self.image_size}"
            )

    # ------------------------------------------------------------------ training

    def _fit_model(self, images: np.ndarray) -> np.ndarray:
        """Check, build and train the model; return the positions of the training images (the rest validated)."""
        self._validate_params()
        check_images(images, self.image_size)
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(len(images))
        n_validation = validation_size(len(images), self.validation_split)
        train, validation = order[n_validation:], order[:n_validation]

        self.network_ = TrainedNetwork(self._build(self.random_state), **self._network_settings())
        optimizer = built_adam(self.learning_rate, self.autoencoder_.trainable_variables)
        self.autoencoder_.compile(optimizer=optimizer, loss="mse")
        augment = make_augment(self.augment, None if self.random_state is None else int(rng.integers(2**31)))
        self.history_ = self._train(images, train, validation, rng, augment)
        return train

    def _train(self, images, train, validation, rng, augment) -> dict[str, list[float]]:
        """Train to reconstruct the clean images at ``train`` (from augmented copies with a policy); stop early."""
        model = self.autoencoder_

        def step(positions: np.ndarray) -> float:
            clean = images[positions]
            noisy = clean if augment is None else augment(to_uint8(clean))
            return model.train_on_batch(to_unit_float(noisy), to_unit_float(clean))

        def validation_loss() -> float:
            return float(predict_batches(self._reconstruction_errors, images, PREDICT_BATCH, positions=np.sort(validation)).mean())

        return train_epochs(
            step,
            train,
            epochs=self.epochs,
            batch_size=self.batch_size or autoencoder_batch_size(len(images), self.image_size),
            rng=rng,
            validation_loss=validation_loss if len(validation) else None,
            stopping=EarlyStopping(model, self.patience),
            verbose=self.verbose,
        )

    def _reconstruction_errors(self, images: np.ndarray) -> np.ndarray:
        """Each image's mean squared reconstruction error (the training loss)."""
        clean = to_unit_float(images)
        return np.mean(np.square(self.autoencoder_.predict_on_batch(clean) - clean), axis=(1, 2, 3))

    def _center_codes(self, codes: np.ndarray) -> np.ndarray:
        """Shift the code layer's bias so that ``codes`` (the training images') average zero; return the shift.

        Codes of a linear bottleneck share a large common offset, which makes every
        cosine similarity close to 1; centred codes compare by what sets images apart.
        Reconstructions are unchanged.
        """
        mean = codes.mean(axis=0, dtype=np.float64).astype(np.float32)
        self._shift_codes(mean)
        return mean

    def _shift_codes(self, offset: np.ndarray) -> None:
        """Subtract ``offset`` from every code, leaving the reconstructions as they were."""
        code_layer = self.autoencoder_.get_layer(CODE_LAYER)
        decoder_layer = self.autoencoder_.get_layer(DECODER_INPUT_LAYER)
        kernel, bias = code_layer.get_weights()
        code_layer.set_weights([kernel, bias - offset])
        kernel, bias = decoder_layer.get_weights()
        decoder_layer.set_weights([kernel, bias + offset @ kernel])
        self.network_.weights_changed()

    # ------------------------------------------------------------------ helpers

    def _build(self, seed: int | None = None) -> keras.Model:
        import keras
        from keras import layers
        init = seeded_initializers(seed)
        inputs = keras.Input((self.image_size, self.image_size, 3))
        x = inputs
        for n_filters in self.filters:
            x = layers.Conv2D(n_filters, 3, strides=2, padding="same", activation="relu", **init())(x)
        grid_shape = tuple(x.shape[1:])
        code = layers.Dense(self.code_size, name=CODE_LAYER, **init())(layers.Flatten()(x))
        y = layers.Dense(math.prod(grid_shape), activation="relu", name=DECODER_INPUT_LAYER, **init())(code)
        y = layers.Reshape(grid_shape)(y)
        for n_filters in reversed(self.filters[:-1]):
            y = layers.Conv2DTranspose(n_filters, 3, strides=2, padding="same", activation="relu", **init())(y)
        outputs = layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="sigmoid", **init())(y)
        return keras.Model(inputs, outputs, name="conv_autoencoder")

    def _fitted(self, attribute: str):
        check_is_fitted(self, attribute)
        return getattr(self, attribute)

    def _predict(self, model: keras.Model | TrainedNetwork, images: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
        """``model``'s float32 outputs for images (or those at ``positions``), a batch at a time."""
        check_images(images, self.image_size)
        return predict_batches(lambda batch: model.predict_on_batch(to_unit_float(batch)), images, PREDICT_BATCH, positions=positions)


def _encoder_half(autoencoder: keras.Model) -> keras.Model:
    import keras
    return keras.Model(autoencoder.inputs, autoencoder.get_layer(CODE_LAYER).output, name="encoder")
