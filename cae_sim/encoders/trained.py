"""A network an encoder trained, as its inference runs it: on LiteRT or Keras, the Keras model loaded only when needed.

The trained encoders (the autoencoder, the contrastive head) save their Keras model as a ``.keras`` file. On
LiteRT, its conversion is cached under the sha256 of that file and of the parameters the model was checked against
(``litert.conversions_dir()``), written when the encoder is saved: loading the save later finds it there and encodes without TensorFlow. The converted model is never
read from the save itself, so a crafted save cannot hand LiteRT a model file; where the cache lacks it (another
machine, a cleared cache), the Keras file is loaded with its checks and converted again.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._files import file_sha256
from .litert import LiteRTModel, conversions_dir, on_litert
from .saved_models import check_model_file, load_model

if TYPE_CHECKING:
    import keras

#: Checks a Keras model loaded from a file against the encoder's parameters: ``check(path, model)``.
ModelCheck = Callable[[Path, "keras.Model"], None]


class TrainedNetwork:
    """A trained Keras model and the part of it that encodes, on a runtime.

    Parameters
    ----------
    model : keras.Model or None
        The trained model; None for one loaded from ``file`` on first use.
    runtime : {"litert", "keras"}
        What runs the inference.
    input_shape : tuple of int
        The shape of one input of the inference part.
    inference : callable, default: the whole model
        ``inference(model)`` → the Keras model that encodes (the autoencoder's encoder half).
    check : callable or None, default=None
        ``check(path, model)`` raises ValueError naming ``path`` unless a model loaded from a file is the encoder's.
    signature : str, default=""
        The encoder's parameters that ``check`` compares the model with: part of the conversion's cache key, so that
        a save whose parameters were changed finds no conversion and has its model loaded and checked.
    file, sha256 : Path and str, or None
        The ``.keras`` file ``model`` was loaded from (or is loaded from, when None) and its content's hash.
    """

    def __init__(self, model: keras.Model | None, *, runtime: str, input_shape: tuple[int, ...],
                 inference: Callable[[keras.Model], keras.Model] = lambda model: model,
                 check: ModelCheck | None = None, signature: str = "", file: Path | None = None,
                 sha256: str | None = None):
        self._model, self._runtime, self._input_shape = model, runtime, input_shape
        self._inference, self._check, self._signature = inference, check, signature
        self._file, self._sha256 = file, sha256
        self._keras_inference = None
        self._litert = None

    @classmethod
    def load(cls, file: Path, **settings) -> "TrainedNetwork":
        """The network a save's ``.keras`` file holds: on LiteRT from the cached conversion if there is one (Keras is
        not loaded), else loaded from the file with its checks.

        Parameters
        ----------
        file : Path
        **settings
            ``runtime``, ``input_shape``, ``inference``, ``check`` and ``signature``, as for the constructor.

        Raises
        ------
        ValueError
            Naming the file, if it cannot be loaded safely or does not fit the encoder's parameters.
        """
        file = Path(file).absolute()
        check_model_file(file)  # a regular file whose config names what the encoders are made of, before it is read
        network = cls(None, **settings, file=file, sha256=file_sha256(file))
        cached = network._cache(network._sha256)
        if network._runtime == "litert" and cached.is_file():
            network._litert = LiteRTModel(cached)
        else:
            network.model  # noqa: B018  loaded and checked now, not at the first query
        return network

    @property
    def model(self) -> keras.Model:
        """The whole Keras model; loaded from its file on first use (which must still be the file loaded from).

        Raises
        ------
        ValueError
            Naming the file, if it changed since the save was loaded or cannot be loaded safely.
        """
        if self._model is None:
            if file_sha256(self._file) != self._sha256:
                raise ValueError(f"{self._file} changed since its save was loaded")
            model = load_model(self._file)
            if self._check is not None:
                self._check(self._file, model)
            self._model = model
        return self._model

    @property
    def inference_model(self) -> keras.Model:
        """The Keras model that encodes."""
        if self._keras_inference is None:
            self._keras_inference = self._inference(self.model)
        return self._keras_inference

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        """The inference part's output for ``batch``, on the runtime (converted for LiteRT on first use)."""
        if self._runtime == "keras":
            return np.asarray(self.inference_model.predict_on_batch(batch))
        if self._litert is None:
            self._litert = on_litert(self.inference_model, self._input_shape)
        return np.asarray(self._litert.predict_on_batch(batch))

    def weights_changed(self) -> None:
        """Say that the Keras model's weights were changed in place: the inference is converted again on next use."""
        self._litert = None

    def save(self, path: Path) -> None:
        """Write the Keras model to ``path`` (a copy of its file where it was never loaded), and on LiteRT cache
        its conversion under the new file's hash."""
        if self._model is None:
            shutil.copyfile(self._file, path)
            if file_sha256(path) != self._sha256:
                raise ValueError(f"{self._file} changed since its save was loaded")
        else:
            self._model.save(path)
        if self._runtime == "litert":
            cached = self._cache(file_sha256(path))
            if not cached.is_file():
                converted = self._litert or on_litert(self.inference_model, self._input_shape)  # converted once
                if isinstance(converted, LiteRTModel):
                    converted.write(cached)
                    self._litert = LiteRTModel(cached)

    def _cache(self, file_sha256: str) -> Path:
        """Where the conversion of the ``.keras`` file of hash ``file_sha256``, checked against this signature, is
        cached."""
        key = hashlib.sha256(f"{file_sha256}\n{self._signature}".encode()).hexdigest()
        return conversions_dir() / f"trained-{key[:32]}.tflite"
