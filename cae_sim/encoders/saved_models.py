"""Reading an encoder's Keras model (``.keras``) and training history from a save somebody may have crafted.

A ``.keras`` file is a zip of ``config.json`` (every object of the model by module and class name),
``metadata.json`` and ``model.weights.h5``, stored uncompressed. Keras builds whatever the config names; with
``safe_mode`` it refuses to run code (``pyproject.toml``'s Keras floor is the lowest release from which on every
release refuses the payloads of ``tests/contracts/test_keras_safety.py``). Before Keras opens the file, ``load_model`` checks
that its config names only the objects cae_sim's encoders are made of, that no member is compressed, and that the
weights it declares fit in the file's bytes, so nothing much larger than the file is allocated; whatever Keras or
TensorFlow then raises becomes a ValueError naming the file.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

#: The objects, as (module, class name), that the encoders' models hold; a config naming anything else is refused.
KERAS_OBJECTS = frozenset({
    ("keras.src.models.functional", "Functional"),
    ("keras.layers", "InputLayer"),
    ("keras.layers", "Conv2D"),
    ("keras.layers", "Conv2DTranspose"),
    ("keras.layers", "Dense"),
    ("keras.layers", "Flatten"),
    ("keras.layers", "Reshape"),
    ("keras.initializers", "GlorotUniform"),
    ("keras.initializers", "Zeros"),
    ("keras.optimizers", "Adam"),
    ("keras", "DTypePolicy"),
    (None, "__keras_tensor__"),
})
#: Layers with weights: a kernel of their input's channels × units (× the kernel's size), and a bias.
WEIGHTED_LAYERS = {"Dense": "units", "Conv2D": "filters", "Conv2DTranspose": "filters"}
#: The fewest bytes a weight takes in the file (float16; Keras stores the weights uncompressed).
BYTES_PER_WEIGHT = 2
#: The deepest nesting of a model's config (a saved autoencoder's is 10).
MAX_CONFIG_DEPTH = 32


def load_model(path: Path) -> keras.Model:
    """Load a save's Keras model (``compile=False``, ``safe_mode=True``) once its config is checked.

    Parameters
    ----------
    path : Path
        The ``.keras`` file, a regular file inside the save (the save's manifest checks that).

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        Naming ``path``, if it is no zip of a Keras model, names an object cae_sim's encoders are not made of,
        declares more weights than its bytes hold, or Keras fails to load it.
    """
    import keras

    check_model_file(path)
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras and TensorFlow raise many kinds: ResourceExhaustedError, KeyError, OSError, ...
        raise ValueError(f"{path} cannot be loaded as a Keras model ({type(error).__name__}: {error})") from error


def check_model_file(path: Path) -> None:
    """Raise ValueError naming ``path`` unless its config names only ``KERAS_OBJECTS`` whose weights fit its size."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path} is not a regular file")
    size = info.st_size
    try:
        with zipfile.ZipFile(path) as archive:
            if any(member.compress_type != zipfile.ZIP_STORED for member in archive.infolist()):
                raise zipfile.BadZipFile("a member is compressed (Keras stores them as they are)")
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, RecursionError, ValueError) as error:  # and bad JSON
        raise ValueError(f"{path} is not a Keras model file ({type(error).__name__}: {error})") from error
    weights = sum(_declared_weights(path, layer) for layer in _keras_objects(path, config))
    if weights * BYTES_PER_WEIGHT > size:
        raise ValueError(f"{path} declares {weights:,} weights, more than its {size:,} bytes can hold")


def read_history(path: Path) -> dict[str, list[float]]:
    """The training history a save's ``history.json`` holds: loss names → one number per epoch.

    Raises
    ------
    ValueError
        Naming ``path``, if it is not such a JSON object.
    """
    try:
        history = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError) as error:
        raise ValueError(f"{path} is not a training history ({type(error).__name__}: {error})") from error
    if not isinstance(history, dict) or not all(
        isinstance(values, list) and all(isinstance(v, (int, float)) for v in values) for values in history.values()
    ):
        raise ValueError(f"{path} is not a training history: expected lists of numbers by loss name")
    return history


def check_fits(path: Path, what: str, model_value, expected) -> None:
    """Raise ValueError naming ``path`` if the model's ``what`` is not what the encoder's parameters say."""
    if model_value != expected:
        raise ValueError(f"{path} does not fit the encoder's parameters: its {what} is {model_value}, "
                         f"they say {expected}")


def model_layer(path: Path, model: keras.Model, name: str):
    """The layer of ``model`` called ``name``; ValueError naming ``path`` if there is none."""
    for layer in model.layers:
        if layer.name == name:
            return layer
    raise ValueError(f"{path} has no layer named {name!r}: it is not the model the encoder saved")


def _keras_objects(path: Path, config) -> list[dict]:
    """Every object (a dict with a ``class_name``) of a model's config; ValueError unless all are ``KERAS_OBJECTS``."""
    found, pending = [], [(config, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"{path}: its config nests deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(value, dict):
            if "class_name" in value:
                _check_object(path, value)
                found.append(value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
    return found


def _check_object(path: Path, value: dict) -> None:
    module, name = value.get("module"), value["class_name"]
    named = (module, name) if all(isinstance(part, (str, type(None))) for part in (module, name)) else None
    if named not in KERAS_OBJECTS or value.get("registered_name") not in (None, name):
        raise ValueError(f"{path} names the Keras object {module}.{name} (registered name "
                         f"{value.get('registered_name')!r}), which no cae_sim encoder is made of")


def _declared_weights(path: Path, layer: dict) -> int:
    """How many weights a Dense or convolution layer's config declares (kernel and bias); 0 for other objects."""
    units = WEIGHTED_LAYERS.get(layer["class_name"])
    if units is None:
        return 0
    try:
        config = layer["config"]
        sizes = [layer["build_config"]["input_shape"][-1], config[units], *config.get("kernel_size", [])]
    except (KeyError, TypeError, IndexError):
        sizes = None
    if not sizes or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ValueError(f"{path}: its layer {layer.get('name')!r} declares no input channels, {units} and kernel size")
    return math.prod(sizes) + sizes[1]
