"""The legacy .pth reader, on files written here the way torch.save wrote them before PyTorch 1.6."""

import contextlib
import io
import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from cae_sim.encoders.torch_weights import LEGACY_MAGIC, LEGACY_PROTOCOL, UnsafePickleError, load_legacy_state_dict, port_weights


@contextlib.contextmanager
def stand_in_torch():
    """Register modules named torch and torch._utils so that pickle can name their classes (no torch needed)."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _StorageRef:
    def __init__(self, storage_type, key, size):
        self.storage_type, self.key, self.size = storage_type, key, size


class _Tensor:
    def __init__(self, storage, shape, stride):
        self.storage, self.shape, self.stride = storage, shape, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, 0, self.shape, self.stride, False, OrderedDict())


def storage_id(storage: "_StorageRef") -> tuple:
    """The persistent id torch.save gave a storage."""
    return ("storage", storage.storage_type, storage.key, "cpu", storage.size, None)


class _Pickler(pickle.Pickler):
    def __init__(self, file, protocol, id_of=storage_id):
        super().__init__(file, protocol)
        self.id_of = id_of

    def persistent_id(self, obj):
        return self.id_of(obj) if isinstance(obj, _StorageRef) else None


def legacy_bytes(tensors: dict[str, np.ndarray], extra=None, id_of=storage_id) -> bytes:
    """Serialise arrays as a legacy PyTorch state dict; ``extra`` is added to the dict as is.

    ``id_of`` gives each storage's persistent id (a test may forge one).
    """
    with stand_in_torch() as torch:
        storage_types = {np.dtype(np.float32): torch.FloatStorage, np.dtype(np.int64): torch.LongStorage}
        state, storages = OrderedDict(), []
        for key, (name, array) in enumerate(tensors.items()):
            storage = _StorageRef(storage_types[array.dtype], str(key), array.size)
            stride = tuple(int(np.prod(array.shape[i + 1 :])) for i in range(array.ndim))
            state[name] = _Tensor(storage, tuple(array.shape), stride)
            storages.append((storage, array))
        if extra:
            state.update(extra)
        out = pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(LEGACY_PROTOCOL, 2)
        out += pickle.dumps({"protocol_version": LEGACY_PROTOCOL, "little_endian": True}, 2)
        body = io.BytesIO()
        _Pickler(body, 2, id_of).dump(state)
        out += body.getvalue() + pickle.dumps([s.key for s, _ in storages], 2)
        for storage, array in storages:
            out += array.size.to_bytes(8, "little") + np.ascontiguousarray(array).tobytes()
        return out


tensors = st.dictionaries(
    st.from_regex(r"[a-z_]{1,8}(\.[a-z0-9_]{1,6}){0,3}", fullmatch=True),
    st.sampled_from([np.float32, np.int64]).flatmap(lambda dtype: arrays(dtype, array_shapes(min_dims=0, max_dims=4, max_side=5))),
    min_size=1,
    max_size=5,
)


@given(tensors)
def test_round_trip_of_any_state_dict(tmp_path_factory, state):
    path = tmp_path_factory.mktemp("pth") / "w.pth"
    path.write_bytes(legacy_bytes(state))
    loaded = load_legacy_state_dict(path)
    assert list(loaded) == list(state)
    for name, array in state.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)


def test_a_file_asking_for_another_class_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(legacy_bytes({"w": np.zeros(2, np.float32)}, extra={"payload": _Evil(tmp_path / "pwned")}))
    with pytest.raises(UnsafePickleError, match="refusing to load posix.system|refusing to load os.system"):
        load_legacy_state_dict(path)
    assert not (tmp_path / "pwned").exists()


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch '{self.target}'",)


def test_other_files_are_refused(tmp_path):
    (tmp_path / "zip.pth").write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(ValueError, match="not a"):
        load_legacy_state_dict(tmp_path / "zip.pth")
    (tmp_path / "plain.pth").write_bytes(pickle.dumps(1234, 2) + pickle.dumps(1, 2))
    with pytest.raises(ValueError, match="not a legacy"):
        load_legacy_state_dict(tmp_path / "plain.pth")


def test_a_truncated_file_is_refused(tmp_path):
    data = legacy_bytes({"w": np.arange(100, dtype=np.float32)})
    (tmp_path / "cut.pth").write_bytes(data[:-40])
    with pytest.raises(ValueError, match="truncated"):
        load_legacy_state_dict(tmp_path / "cut.pth")


@pytest.mark.parametrize(
    "id_of, message",
    [
        (lambda storage: ("module", "os.system"), "refusing persistent id"),
        (lambda storage: "storage", "refusing persistent id"),
        (lambda storage: (*storage_id(storage)[:5], ("view", 0, 1)), "storage views are not supported"),
        (lambda storage: ("storage", "ComplexStorage", storage.key, "cpu", storage.size, None), "unknown storage type 'ComplexStorage'"),
    ],
)
def test_forged_persistent_ids_are_refused(tmp_path, id_of, message):
    path = tmp_path / "forged.pth"
    path.write_bytes(legacy_bytes({"w": np.zeros(3, np.float32)}, id_of=id_of))
    with pytest.raises(UnsafePickleError, match=message):
        load_legacy_state_dict(path)


def _dense_model():
    import keras

    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))


def test_port_weights_sets_a_dense_layer_from_torch_layout():
    weight, bias = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1.0, -1.0], np.float32)
    model = _dense_model()
    port_weights(model, {"fc.weight": weight, "fc.bias": bias}, lambda name: "fc")
    kernel, offset = model.get_layer("head").get_weights()
    np.testing.assert_array_equal(kernel, weight.T)  # torch keeps (out, in), Keras (in, out)
    np.testing.assert_array_equal(offset, bias)


@pytest.mark.parametrize(
    "state, message",
    [
        ({"fc.weight": np.zeros((2, 3), np.float32)}, "has no 'fc.bias' for layer head"),
        ({"fc.weight": np.zeros((5, 3), np.float32), "fc.bias": np.zeros(5, np.float32)}, "head weight shape"),
    ],
)
def test_port_weights_names_the_layer_whose_weights_are_missing_or_misshapen(state, message):
    with pytest.raises(ValueError, match=message):
        port_weights(_dense_model(), state, lambda name: "fc")


def test_port_weights_refuses_a_layer_it_cannot_convert():
    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.LayerNormalization(name="norm")(inputs))
    with pytest.raises(ValueError, match="no weight conversion for layer norm"):
        port_weights(model, {}, lambda name: name)
