"""The installed TensorFlow and Keras are the lockstep pair pyproject.toml promises."""

import tomllib
from importlib.metadata import requires, version

import keras
import pytest
import tensorflow as tf
from packaging.requirements import Requirement

from conftest import ROOT

PYPROJECT = ROOT / "pyproject.toml"
DEPENDENCIES = [Requirement(line) for line in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]
#: Keras releases whose safe_mode ran or read a payload of tests/contracts/test_keras_safety.py (each was run against them).
UNSAFE_KERAS = ["3.8.0", "3.9.0", "3.11.3", "3.12.0", "3.13.0", "3.13.1"]


@pytest.mark.parametrize("requirement", DEPENDENCIES, ids=lambda r: r.name)
def test_installed_versions_satisfy_pyproject(requirement):
    assert requirement.specifier.contains(version(requirement.name), prereleases=True)


def test_tensorflow_uses_the_installed_keras_3():
    assert keras.__version__.startswith("3.")
    assert tf.keras.version() == keras.__version__


def test_tensorflow_requires_a_keras_our_range_allows():
    keras_required = [Requirement(r) for r in requires("tensorflow") if r.startswith("keras")]
    assert keras_required and all(r.specifier.contains(version("keras")) for r in keras_required)


@pytest.mark.parametrize("release", UNSAFE_KERAS)
def test_the_keras_range_leaves_out_every_release_known_to_run_a_payload(release):
    keras_range = next(r for r in DEPENDENCIES if r.name == "keras").specifier
    assert not keras_range.contains(release)
