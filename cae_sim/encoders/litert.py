"""Inference on LiteRT: a Keras model converted once to a ``.tflite`` flat buffer, run by LiteRT's interpreter.

Training stays in Keras; what an encoder runs on every image afterwards (a pretrained backbone's features, an
autoencoder's encoder half) runs here, 1.5–3.5× faster on a CPU than Keras' ``predict_on_batch`` with the same
answers (within 1e-4 relative), and without loading TensorFlow: ``ai_edge_litert`` imports in about 0.1 s.
Converting needs TensorFlow, once: the converted model is cached in ``conversions_dir()``, named by what it was
converted from (a pretrained backbone's weights file, layer and input size; a trained encoder's saved Keras file),
never read from a save.

LiteRT writes one line to standard error when its first interpreter starts ("INFO: Created TensorFlow Lite XNNPACK
delegate for CPU."); the library leaves standard error alone, the commands hide it (``STARTUP``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._files import write_atomically
from .backbones import weights_cache_dir

if TYPE_CHECKING:
    import keras

#: Runtimes an encoder's inference can run on.
RUNTIMES = ("litert", "keras")
#: What an interpreter is started inside: the commands put a context here that hides LiteRT's start-up line.
STARTUP: Callable[[], AbstractContextManager] = contextlib.nullcontext


def inference_threads() -> int:
    """The interpreter's threads: one per core this process may run on.

    Decoding overlaps with inference in other threads (``experiments/bench_litert.py`` measures the choice).
    """
    return len(os.sched_getaffinity(0))


class LiteRTModel:
    """A ``.tflite`` model with one float32 input and one output, run like a Keras model (``predict_on_batch``).

    The batch dimension is resized to each batch's size as it comes (the last, smaller batch of a folder too).

    Parameters
    ----------
    model : str, Path or bytes
        The ``.tflite`` file, or its content (a converted model held in memory).
    threads : int or None, default=None
        Interpreter threads; None: ``inference_threads()``.

    Attributes
    ----------
    path : Path or None
        The file; None for a model held in memory.
    input_shape, output_shape : tuple of int
        Of the model's input and output, -1 for the batch (and any free dimension).

    Raises
    ------
    ValueError
        Naming the file if LiteRT cannot read it as a model of one input and one output.
    """

    def __init__(self, model: str | os.PathLike | bytes, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = None if isinstance(model, bytes) else Path(model)
        self._model, self._threads = model, threads
        source = {"model_content": model} if isinstance(model, bytes) else {"model_path": os.fspath(model)}
        what = "the converted model" if isinstance(model, bytes) else os.fspath(model)
        try:
            with STARTUP():  # LiteRT's start-up line comes with its first allocation
                self._interpreter = Interpreter(**source, num_threads=threads or inference_threads())
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{what} cannot be read as a LiteRT model ({error})") from None
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{what} has {len(inputs)} inputs and {len(outputs)} outputs; expected one of each")
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        self.input_shape = tuple(int(side) for side in inputs[0]["shape_signature"])
        self.output_shape = tuple(int(side) for side in outputs[0]["shape_signature"])
        self._shape = None  # the input shape the tensors are allocated for
        self._lock = threading.Lock()  # an interpreter runs one batch at a time

    def __reduce__(self):  # copied or sent elsewhere, it is opened anew from its file or content
        return type(self), (self._model, self._threads)

    def write(self, path: Path) -> None:
        """Write the model's flat buffer to ``path``, atomically (creating its folder)."""
        content = self._model if self.path is None else self.path.read_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda file: file.write(content))

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        """Return the model's output for ``batch`` (n, *input_shape[1:]), as a new float32 array.

        Raises
        ------
        ValueError
            If the batch's shape is not the model's input shape.
        """
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        expected = self.input_shape[1:]  # -1 where any size is taken
        if batch.ndim != len(self.input_shape) or any(side not in (-1, given) for side, given in zip(expected, batch.shape[1:])):
            raise ValueError(f"expected a batch of shape (n, {', '.join(map(str, expected))}), got {batch.shape}")
        with self._lock:
            if batch.shape != self._shape:
                self._interpreter.resize_tensor_input(self._input, list(batch.shape))
                self._interpreter.allocate_tensors()
                self._shape = batch.shape
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()  # get_tensor's array is the interpreter's buffer


def flat_buffer(model: keras.Model, input_shape: tuple[int, ...]) -> bytes:
    """Convert a Keras model of one float32 input to LiteRT's ``.tflite`` format (needs TensorFlow).

    Parameters
    ----------
    model : keras.Model
    input_shape : tuple of int
        The shape of one input (an image's: ``(side, side, 3)``); the batch dimension is left free.

    Returns
    -------
    bytes
        The converted model.

    Raises
    ------
    ValueError
        If the converter fails, naming the model.
    """
    import tensorflow as tf

    signature = [tf.TensorSpec([None, *input_shape], tf.float32)]
    function = tf.function(lambda inputs: model(inputs, training=False), input_signature=signature, autograph=False)
    try:
        # trackable_obj: the function itself keeps the concrete-function route and spares a deprecation warning
        concrete = [function.get_concrete_function()]
        return tf.lite.TFLiteConverter.from_concrete_functions(concrete, trackable_obj=function).convert()
    except Exception as error:  # the converter raises ConverterError, RuntimeError and others
        raise ValueError(f"LiteRT cannot convert the model {model.name!r} ({type(error).__name__}: {error})") from error


def on_litert(model: keras.Model, input_shape: tuple[int, ...], cache: Path | None = None) -> LiteRTModel | keras.Model:
    """``model`` converted for LiteRT, or ``model`` itself, with a RuntimeWarning, where LiteRT cannot convert it.

    Parameters
    ----------
    model : keras.Model
    input_shape : tuple of int
        The shape of one input; the batch dimension is left free.
    cache : Path or None, default=None
        Where the converted model is written (atomically), and read from by ``LiteRTModel``; None: held in memory.
    """
    try:
        converted = flat_buffer(model, input_shape)
    except ValueError as error:
        warnings.warn(f"{model.name!r} runs on Keras: {error}", RuntimeWarning, stacklevel=3)
        return model
    if cache is None:
        return LiteRTModel(converted)
    LiteRTModel(converted).write(cache)
    return LiteRTModel(cache)


def conversions_dir() -> Path:
    """Where converted models are cached: ``litert/`` in the cache of the ported weights (``weights_cache_dir``)."""
    return weights_cache_dir() / "litert"
