"""The experiments' data decoders, on synthetic files (the real packages come from the registries, not in tests)."""

import gzip
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))

from datasets import _idx, load_fashion_mnist  # noqa: E402


def idx_bytes(values: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, values.ndim]) + b"".join(n.to_bytes(4, "big") for n in values.shape)
    return gzip.compress(header + values.tobytes())


@given(arrays(np.uint8, st.tuples(st.integers(0, 5), st.integers(1, 4), st.integers(1, 4))))
def test_idx_round_trips_images(values):
    np.testing.assert_array_equal(_idx(idx_bytes(values), 3), values)


def test_idx_rejects_a_wrong_magic_and_a_short_body():
    labels = np.arange(6, dtype=np.uint8)
    with pytest.raises(ValueError, match="idx file of 3-d"):
        _idx(idx_bytes(labels), 3)
    truncated = gzip.compress(gzip.decompress(idx_bytes(labels))[:-2])
    with pytest.raises(ValueError, match="holds 4 values"):
        _idx(truncated, 1)


def test_fashion_mnist_rejects_an_unknown_split():
    with pytest.raises(ValueError, match="'train'"):
        load_fashion_mnist("train")
