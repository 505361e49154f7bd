import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from cae_sim.encoders import ConvAutoencoder, encoder_class
from conftest import TINY, smooth_image


@pytest.fixture(scope="module")
def images():
    return np.stack([smooth_image(i, 16, 16) for i in range(40)])


@pytest.fixture(scope="module")
def trained(images):
    return ConvAutoencoder(**TINY).fit(images)


@pytest.mark.slow
@given(st.integers(1, 5))
def test_codes_are_float32_with_code_size_columns(trained, n):
    codes = trained.encode(np.stack([smooth_image(100 + i, 16, 16) for i in range(n)]))
    assert codes.shape == (n, TINY["code_size"])
    assert codes.dtype == np.float32


def test_uint8_and_unit_float_inputs_give_the_same_codes(trained, images):
    np.testing.assert_allclose(trained.encode(images), trained.encode(images / 255.0), rtol=1e-5, atol=1e-5)


def test_reconstruction_has_image_shape_and_range(trained, images):
    out = trained.reconstruct(images[:4])
    assert out.shape == (4, 16, 16, 3)
    assert out.min() >= 0 and out.max() <= 1


def test_history_has_one_loss_per_epoch_and_validation(trained):
    assert len(trained.history_["loss"]) == TINY["epochs"]
    assert "val_loss" not in trained.history_  # 4 held-out images are too few to stop on


@pytest.mark.slow
def test_training_lowers_reconstruction_error(images):
    model = ConvAutoencoder(**{**TINY, "epochs": 15, "validation_split": 0.0}).fit(images)
    assert model.history_["loss"][-1] < model.history_["loss"][0]
    assert "val_loss" not in model.history_


@pytest.mark.slow
def test_same_seed_same_codes(images, trained):
    again = ConvAutoencoder(**TINY).fit(images)
    np.testing.assert_array_equal(again.encode(images), trained.encode(images))


@pytest.mark.slow
def test_trains_from_a_memmap(tmp_path, images):
    cache = np.lib.format.open_memmap(tmp_path / "c.npy", mode="w+", dtype=np.uint8, shape=images.shape)
    cache[:] = images
    np.testing.assert_array_equal(ConvAutoencoder(**TINY).fit(cache).encode(images), ConvAutoencoder(**TINY).fit(images).encode(images))


def test_save_and_load_give_the_same_codes(tmp_path, trained, images):
    trained.save(tmp_path)
    assert json.loads((tmp_path / "history.json").read_text()) == trained.history_
    loaded = ConvAutoencoder.load(tmp_path, trained.get_params())
    np.testing.assert_array_equal(loaded.encode(images), trained.encode(images))


@pytest.mark.parametrize("params, what", [
    ({"image_size": 40000}, "input shape"),  # a query would have allocated 4.8 GB per image
    ({"code_size": 9}, "code shape"),
    ({"filters": (32, 64, 64)}, "encoder's filters"),
])
def test_a_model_that_does_not_fit_the_parameters_is_refused_by_name(tmp_path, trained, params, what):
    trained.save(tmp_path)
    with pytest.raises(ValueError, match=rf"autoencoder\.keras does not fit the encoder's parameters: its {what}"):
        ConvAutoencoder.load(tmp_path, trained.get_params() | params)


def _rewrite_model(path, change) -> None:
    """Apply ``change`` to the members (name → bytes) of the ``.keras`` file at ``path``."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    change(parts)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def _set_code_units(parts: dict, units: int) -> None:
    config = json.loads(parts["config.json"])
    next(layer for layer in config["config"]["layers"] if layer["name"] == "code")["config"]["units"] = units
    parts["config.json"] = json.dumps(config).encode()


def test_a_model_declaring_more_weights_than_its_file_holds_is_refused_before_keras_builds_it(
    tmp_path, trained, monkeypatch
):
    import keras

    trained.save(tmp_path)
    _rewrite_model(tmp_path / "autoencoder.keras", lambda parts: _set_code_units(parts, 16 << 30))
    monkeypatch.setattr(keras.models, "load_model", None)  # never reached
    with pytest.raises(ValueError, match=r"autoencoder\.keras declares [\d,]+ weights, more than its [\d,]+ bytes"):
        ConvAutoencoder.load(tmp_path, trained.get_params())


@pytest.mark.parametrize("damage, message", [
    (lambda parts: parts.clear(), "is not a Keras model file"),
    (lambda parts: parts.update({"config.json": b"{" * 100_000}), "is not a Keras model file"),
    (lambda parts: parts.update({"config.json": b'{"class_name": "Lambda", "module": "keras.layers"}'}),
     "names the Keras object keras.layers.Lambda"),
    (lambda parts: parts.pop("model.weights.h5"), "declares [\\d,]+ weights"),
    (lambda parts: parts.update({"model.weights.h5": bytes(len(parts["model.weights.h5"]))}),
     "cannot be loaded as a Keras model"),
    (lambda parts: _set_code_units(parts, 7), "cannot be loaded as a Keras model"),  # weights of the wrong shape
])
def test_whatever_keras_raises_on_a_damaged_model_is_a_value_error_naming_the_file(tmp_path, trained, damage, message):
    trained.save(tmp_path)
    _rewrite_model(tmp_path / "autoencoder.keras", damage)
    with pytest.raises(ValueError, match=rf"autoencoder\.keras {message}"):
        ConvAutoencoder.load(tmp_path, trained.get_params())


def test_a_compressed_model_or_a_fifo_is_refused_by_name_before_it_is_read(tmp_path, trained):
    trained.save(tmp_path)
    path = tmp_path / "autoencoder.keras"
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # a bomb would be compressed
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"autoencoder\.keras is not a Keras model file .*a member is compressed"):
        ConvAutoencoder.load(tmp_path, trained.get_params())
    path.unlink()
    os.mkfifo(path)  # opening it would wait for a writer
    with pytest.raises(ValueError, match=r"autoencoder\.keras is not a regular file"):
        ConvAutoencoder.load(tmp_path, trained.get_params())


@pytest.mark.parametrize("history", ["[" * 100_000, '{"loss": "high"}', "\xff"])
def test_a_damaged_history_is_a_value_error_naming_the_file(tmp_path, trained, history):
    trained.save(tmp_path)
    (tmp_path / "history.json").write_bytes(history.encode("latin-1"))
    with pytest.raises(ValueError, match=r"history\.json is not a training history"):
        ConvAutoencoder.load(tmp_path, trained.get_params())


def test_encode_before_fit_raises():
    with pytest.raises(NotFittedError):
        ConvAutoencoder().encode(np.zeros((1, 64, 64, 3), np.uint8))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"image_size": 20}, "multiple of 8"),
        ({"code_size": 0}, "code_size"),
        ({"epochs": 1.5}, "epochs"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"filters": ()}, "filters"),
        ({"random_state": -1}, "random_state"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
        ({"patience": -1}, "patience"),
        ({"augment": "nope"}, "'nope'"),
        ({"augment": {"blur": 2}}, r"augment: blur must be a number in \[0, 1\], got 2"),
        ({"verbose": -1}, "verbose must be an int >= 0, got -1"),
    ],
)
def test_bad_parameters_are_named(images, params, message):
    with pytest.raises(ValueError, match=message):
        ConvAutoencoder(**{**TINY, **params}).fit(images)


def test_wrong_image_shape_is_rejected(trained):
    with pytest.raises(ValueError, match=r"\(N, 16, 16, 3\)"):
        trained.encode(np.zeros((2, 32, 32, 3), np.uint8))


def test_registry_knows_cae_and_rejects_unknown_names():
    assert encoder_class("cae") is ConvAutoencoder
    with pytest.raises(ValueError, match="nope"):
        encoder_class("nope")


@pytest.mark.slow
def test_enough_images_hold_out_a_validation_set():
    many = np.stack([smooth_image(i, 16, 16) for i in range(400)])
    model = ConvAutoencoder(**{**TINY, "epochs": 1}).fit(many)
    assert len(model.history_["val_loss"]) == 1


def test_training_codes_are_centred(trained, images):
    codes = trained.encode(images)
    assert np.abs(codes.mean(axis=0)).max() < 1e-3 * max(1.0, np.abs(codes).max())


@pytest.mark.slow
def test_shifting_codes_leaves_reconstructions_unchanged(images):
    model = ConvAutoencoder(**TINY).fit(images)
    codes, reconstructions = model.encode(images), model.reconstruct(images)
    offset = np.linspace(-2, 3, TINY["code_size"]).astype(np.float32)
    model._shift_codes(offset)
    np.testing.assert_allclose(model.encode(images), codes - offset, atol=1e-4)
    np.testing.assert_allclose(model.reconstruct(images), reconstructions, atol=1e-4)


@pytest.mark.slow
def test_a_seed_repeats_the_fit_without_touching_global_random_state(images):
    import random

    import keras

    keras.utils.set_random_seed(123)
    before = (random.random(), np.random.random(), float(keras.random.uniform(())))
    keras.utils.set_random_seed(123)
    first = ConvAutoencoder(**TINY).fit(images).encode(images)
    after = (random.random(), np.random.random(), float(keras.random.uniform(())))
    second = ConvAutoencoder(**TINY).fit(images).encode(images)
    np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)
    assert after == before  # the global generators continue as if fit had not run


@pytest.mark.slow
def test_training_stops_after_patience_epochs_without_improvement(images):
    model = ConvAutoencoder(**{**TINY, "epochs": 50, "patience": 0, "learning_rate": 10.0}).fit(images)
    assert len(model.history_["loss"]) < 50


@given(st.integers(1, 200_000), st.sampled_from([8, 16, 24, 32, 48, 64, 96, 128]))
def test_auto_batches_keep_their_pixels_bounded_and_shrink_only_above_32_px(n_images, image_size):
    from cae_sim.defaults import AUTOENCODER_BATCH_PIXELS, autoencoder_batch_size

    batch = autoencoder_batch_size(n_images, image_size)
    assert 16 <= batch <= 256
    assert batch * image_size**2 <= AUTOENCODER_BATCH_PIXELS or batch == 16
    if image_size <= 32:
        assert batch == min(256, max(16, n_images // 64))  # small images train as before


@pytest.mark.slow
def test_fit_encode_encodes_each_image_once_and_gives_the_codes_encode_gives(images, trained, monkeypatch):
    encoded = []
    predict = ConvAutoencoder._predict

    def counting(self, model, images, positions=None):
        encoded.append(len(images) if positions is None else len(positions))
        return predict(self, model, images, positions)

    monkeypatch.setattr(ConvAutoencoder, "_predict", counting)
    model = ConvAutoencoder(**TINY)
    codes = model.fit_encode(images)
    assert encoded == [len(images)]  # one pass; fit alone encodes the training images, encode all of them again
    assert codes.shape == (len(images), TINY["code_size"]) and codes.dtype == np.float32
    np.testing.assert_allclose(codes, model.encode(images), atol=1e-5)
    np.testing.assert_allclose(codes, trained.encode(images), atol=1e-5)  # the same model as fit's, seed for seed


@pytest.mark.slow
def test_a_quiet_fit_writes_nothing_and_a_verbose_one_a_bar_without_keras_lines(images, capsys):
    ConvAutoencoder(**TINY).fit(images[:16])
    assert capsys.readouterr().err == ""
    ConvAutoencoder(**{**TINY, "verbose": 1}).fit(images[:16])
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"epoch 2/2 4/4 [{'=' * 30}]") and "loss" in err
    assert "step" not in err and "\x1b" not in err  # no Keras progress lines


def test_the_training_step_is_traced_once_for_each_batch_shape(monkeypatch):
    """Its optimizer's slots are made before the first step (built_adam): made inside it, TensorFlow traces it twice."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    traced, original = [], TensorFlowTrainer.train_step

    def tracing(self, data):  # runs in Python only while TensorFlow traces the step
        traced.append(tuple(data[0].shape))
        return original(self, data)

    monkeypatch.setattr(TensorFlowTrainer, "train_step", tracing)
    ConvAutoencoder(**TINY).fit(np.stack([smooth_image(seed, 16, 16) for seed in range(12)]))  # batches of 8 and 4
    assert len(traced) >= 2 and len(traced) == len(set(traced)), traced
