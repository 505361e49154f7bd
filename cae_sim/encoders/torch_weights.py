"""Read PyTorch's legacy (pre-1.6, non-zip) ``.pth`` files without torch, and port them to Keras layers.

The file is a run of pickles: a magic number, a protocol version, system info,
the state dict (whose tensors point at storages by key), the list of storage
keys, then each storage's raw bytes. The unpickler here accepts only the
classes such a state dict needs — an ordered dict, the tensor-rebuild helpers
and the storage types — so a file that asks for anything else is refused and
no code from the file ever runs.
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from keras import layers

from .._files import open_regular_file

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafePickleError(ValueError):
    """A weights file asked the unpickler for a class it does not allow."""


@dataclass
class _Storage:
    dtype: type
    key: str
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """A tensor whose storage bytes come after the state dict in the file."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> np.ndarray:
        base = self.storage.data
        itemsize = base.itemsize
        if not self.shape:
            return base[self.offset].copy()
        view = np.lib.stride_tricks.as_strided(
            base[self.offset :], shape=self.shape, strides=tuple(s * itemsize for s in self.stride)
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad, backward_hooks):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return name  # stands for the storage type; persistent_load maps it to a dtype
        raise UnsafePickleError(f"refusing to load {module}.{name}: only tensors and storages are allowed")

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] == "storage"):
            raise UnsafePickleError(f"refusing persistent id {saved_id!r:.60}")
        storage_type, key, _location, _size, view = saved_id[1:6]
        if view is not None:
            raise UnsafePickleError("storage views are not supported")
        if storage_type not in STORAGE_DTYPES:
            raise UnsafePickleError(f"unknown storage type {storage_type!r}")
        return self.storages.setdefault(key, _Storage(STORAGE_DTYPES[storage_type], key))


def _load_plain(file):
    """Unpickle one of the header pickles, which hold only ints, strings and dicts."""
    return _RestrictedUnpickler(file, {}).load()


def load_legacy_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a legacy-format PyTorch state dict into NumPy arrays.

    Parameters
    ----------
    path : str or path-like
        A ``.pth`` file written by ``torch.save`` before PyTorch 1.6.

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    ValueError
        If the file is not a legacy PyTorch file, is truncated, or asks for
        any class other than tensors and storages (``UnsafePickleError``).
    OSError
        If the file cannot be read.
    """
    storages: dict[str, _Storage] = {}
    with open_regular_file(path) as file:
        try:
            if _load_plain(file) != LEGACY_MAGIC or _load_plain(file) != LEGACY_PROTOCOL:
                raise ValueError(f"{os.fspath(path)}: not a legacy (pre-1.6) PyTorch file")
            _load_plain(file)  # system info: endianness and type sizes
            state = _RestrictedUnpickler(file, storages).load()
            keys = _load_plain(file)
        except (pickle.UnpicklingError, EOFError) as error:
            raise ValueError(f"{os.fspath(path)}: not a readable PyTorch file ({error})") from error
        for key in keys:
            storage = storages[key]
            count = int.from_bytes(file.read(8), "little")
            raw = file.read(count * np.dtype(storage.dtype).itemsize)
            if len(raw) != count * np.dtype(storage.dtype).itemsize:
                raise ValueError(f"{os.fspath(path)}: truncated storage {key}")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    if not isinstance(state, dict):
        raise ValueError(f"{os.fspath(path)}: does not hold a state dict")
    return {name: value.to_numpy() for name, value in state.items() if isinstance(value, _TensorRef)}


def port_weights(model, state: dict[str, np.ndarray], torch_key: Callable[[str], str]) -> None:
    """Set a Keras model's weights from a PyTorch state dict, layer by layer.

    Parameters
    ----------
    model : keras.Model
    state : dict of str to ndarray
        The state dict, as ``load_legacy_state_dict`` returns it.
    torch_key : callable
        Maps a Keras layer name to the prefix of its tensors in ``state``.

    Raises
    ------
    ValueError
        If a layer has no weights in ``state`` or their shapes disagree.
    """
    for layer in model.layers:
        if not layer.weights:
            continue
        key = torch_key(layer.name)
        try:
            layer.set_weights(_convert(layer, state, key))
        except KeyError as missing:
            raise ValueError(f"the weights file has no {missing} for layer {layer.name}") from None


def _convert(layer, state: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    if isinstance(layer, layers.DepthwiseConv2D):
        return [state[f"{key}.weight"].transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) → (kh, kw, C, 1)
    if isinstance(layer, layers.Conv2D):
        return [state[f"{key}.weight"].transpose(2, 3, 1, 0)]  # (out, in, kh, kw) → (kh, kw, in, out)
    if isinstance(layer, layers.BatchNormalization):
        return [state[f"{key}.{part}"] for part in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, layers.Dense):
        return [state[f"{key}.weight"].T, state[f"{key}.bias"]]
    raise ValueError(f"no weight conversion for layer {layer.name} ({type(layer).__name__})")
