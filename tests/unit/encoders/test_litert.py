"""The LiteRT runtime: the same codes as Keras, a conversion cached once, and inference without TensorFlow."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cae_sim import Pipeline
from cae_sim.encoders import litert
from cae_sim.encoders.litert import LiteRTModel, flat_buffer
from cae_sim.encoders.pretrained import PretrainedEncoder
from cae_sim.images import find_images, read_image

#: The largest relative difference (‖litert − keras‖ / ‖keras‖, per image) allowed between the runtimes' codes.
TOLERANCE = 1e-4


def photos(data_dir, size: int) -> np.ndarray:
    return np.stack([read_image(path, size) for path in find_images(data_dir)[0]])


def relative_differences(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    return np.linalg.norm(other - reference, axis=1) / np.linalg.norm(reference, axis=1)


def cosine_ranking(codes: np.ndarray) -> np.ndarray:
    """Each image's other images, nearest first by cosine similarity."""
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    similarities = unit @ unit.T
    np.fill_diagonal(similarities, -np.inf)
    return np.argsort(-similarities, axis=1, kind="stable")[:, :-1]


def assert_runtimes_agree(data_dir, **params) -> None:
    on_litert = PretrainedEncoder(**params).fit()
    on_keras = PretrainedEncoder(**params, runtime="keras").fit()
    assert isinstance(on_litert.features_, LiteRTModel) and not isinstance(on_keras.features_, LiteRTModel)
    images = photos(data_dir, on_keras.image_size)
    expected, codes = on_keras.encode(images), on_litert.encode(images)
    assert codes.dtype == np.float32 and codes.shape == expected.shape
    assert relative_differences(expected, codes).max() < TOLERANCE
    top = min(10, len(images) - 1)
    assert (cosine_ranking(codes)[:, :top] == cosine_ranking(expected)[:, :top]).all()


@pytest.mark.slow
def test_lite0_pooled_codes_agree_with_keras(data_dir):
    assert_runtimes_agree(data_dir, model="efficientnet_lite0")


@pytest.mark.slow
@pytest.mark.parametrize("model, layer, input_size", [
    ("efficientnet_lite0", "logits", None),
    ("efficientnet_lite0", "blocks_15_project_conv", 96),
    ("efficientnet_lite2", "pool", None),
    ("efficientnet_lite2", "logits", None),
    ("mobilenet_v2", "pool", None),
    ("mobilenet_v2", "softmax", 160),
])
def test_every_shipped_backbone_and_layer_agrees_with_keras(data_dir, model, layer, input_size):
    assert_runtimes_agree(data_dir, model=model, layer=layer, input_size=input_size)


def test_runtime_is_checked():
    with pytest.raises(ValueError, match="runtime.*'tflite'"):
        PretrainedEncoder(runtime="tflite").fit()


@pytest.fixture(scope="module")
def dense_model(tmp_path_factory):
    """A tiny Keras model converted for LiteRT: (model, path of the .tflite)."""
    import keras

    inputs = keras.Input((5,))
    outputs = keras.layers.Dense(3, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed=0))(inputs)
    model = keras.Model(inputs, outputs)
    path = tmp_path_factory.mktemp("litert") / "dense.tflite"
    path.write_bytes(flat_buffer(model, (5,)))
    return model, path


@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5))
def test_batches_of_any_size_give_the_rows_of_one_batch(dense_model, sizes):
    model, path = dense_model
    runner = LiteRTModel(path)
    inputs = np.random.default_rng(len(sizes)).normal(size=(sum(sizes), 5)).astype(np.float32)
    rows = np.concatenate([runner.predict_on_batch(part) for part in np.split(inputs, np.cumsum(sizes)[:-1])])
    np.testing.assert_allclose(rows, np.asarray(model.predict_on_batch(inputs)), rtol=1e-5, atol=1e-6)


def test_a_copy_reopens_the_file_and_answers_alike(dense_model):
    runner = LiteRTModel(dense_model[1])
    inputs = np.ones((2, 5), np.float32)
    copy = pickle.loads(pickle.dumps(runner))
    assert copy.path == runner.path
    np.testing.assert_array_equal(copy.predict_on_batch(inputs), runner.predict_on_batch(inputs))


def test_a_batch_of_the_wrong_shape_is_named(dense_model):
    with pytest.raises(ValueError, match=r"\(n, 5\), got \(2, 4\)"):
        LiteRTModel(dense_model[1]).predict_on_batch(np.zeros((2, 4), np.float32))


def test_a_file_that_is_no_model_is_named(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"not a flat buffer" * 10)
    with pytest.raises(ValueError, match="broken.tflite"):
        LiteRTModel(path)


@pytest.mark.slow
def test_the_conversion_is_cached_by_layer_and_size(tmp_path, monkeypatch):
    monkeypatch.setenv("CAE_SIM_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(litert, "flat_buffer", lambda *args: calls.append(args[1]) or flat_buffer(*args))
    first = PretrainedEncoder(input_size=64).fit()
    again = PretrainedEncoder(input_size=64).fit()
    other = PretrainedEncoder(input_size=96).fit()
    assert calls == [(64, 64, 3), (96, 96, 3)]
    assert first.features_.path == again.features_.path != other.features_.path
    assert first.features_.path.parent == tmp_path / "litert"


@pytest.mark.slow
def test_a_network_litert_cannot_convert_runs_on_keras_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("CAE_SIM_CACHE", str(tmp_path))

    def refuse(model, input_shape):
        raise ValueError(f"LiteRT cannot convert the model {model.name!r} (an op it lacks)")

    monkeypatch.setattr(litert, "flat_buffer", refuse)
    with pytest.warns(RuntimeWarning, match="runs on Keras.*an op it lacks"):
        encoder = PretrainedEncoder(input_size=64).fit()
    assert not isinstance(encoder.features_, LiteRTModel)
    assert encoder.encode(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1, 1280)


@pytest.fixture(scope="module")
def lite0_save(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lite0") / "save"
    Pipeline(encoder="efficientnet_lite0", n_clusters=3, verbose=0).fit(data_dir).save(folder)
    return folder


def query_in_a_child(save, image) -> list[str]:
    """The best match's path, then the heavy modules loaded, after a query of ``image`` on ``save`` in a new process."""
    script = (
        "import sys; from cae_sim import Pipeline\n"
        f"match = Pipeline.load({str(save)!r}).query({str(image)!r}, n=1)[0]\n"
        "print(match.path, sorted(name for name in ('tensorflow', 'keras') if name in sys.modules))\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.slow
def test_a_saved_pretrained_pipeline_queries_without_tensorflow(lite0_save, data_dir):
    assert query_in_a_child(lite0_save, data_dir / "chelsea.jpg") == [str(data_dir / "chelsea.jpg"), "[]"]


@pytest.mark.slow
def test_a_save_whose_conversion_left_the_cache_converts_it_again(lite0_save, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CAE_SIM_CACHE", str(tmp_path))  # an empty cache
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # converted again, not a fallback to Keras
        pipeline = Pipeline.load(lite0_save)
        codes = pipeline.transform([str(data_dir / "chelsea.jpg")])
    assert isinstance(pipeline.encoder_.features_, LiteRTModel)
    assert pipeline.encoder_.features_.path.is_relative_to(tmp_path)
    position = pipeline.collection_.positions_of([str(data_dir / "chelsea.jpg")])[0]
    assert relative_differences(np.asarray(pipeline.codes_[position : position + 1]), codes).max() < TOLERANCE


# --------------------------------------------------------------------------- trained encoders

from cae_sim.encoders import ContrastiveEncoder, ConvAutoencoder  # noqa: E402
from cae_sim.encoders.trained import TrainedNetwork  # noqa: E402
from conftest import TINY  # noqa: E402


def tiny_images(size: int, count: int = 24) -> np.ndarray:
    return (np.random.default_rng(size).random((count, size, size, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def trained_cae():
    images = tiny_images(TINY["image_size"])
    return ConvAutoencoder(**TINY).fit(images), images


@pytest.mark.slow
def test_a_trained_autoencoder_encodes_on_litert_as_on_keras(trained_cae):
    encoder, images = trained_cae
    codes = encoder.encode(images)
    expected = np.asarray(encoder.encoder_.predict_on_batch(images.astype(np.float32) / 255))  # uint8 images
    assert isinstance(encoder.network_._litert, LiteRTModel)
    assert relative_differences(expected, codes).max() < TOLERANCE
    on_keras = ConvAutoencoder(**TINY, runtime="keras").fit(images)
    np.testing.assert_allclose(on_keras.encode(images), on_keras.fit_encode(images), rtol=1e-5, atol=1e-6)
    assert on_keras.network_._litert is None


@pytest.mark.slow
def test_the_contrastive_head_runs_on_litert_as_on_keras(data_dir, tmp_path):
    images = photos(data_dir, 224)
    encoder = ContrastiveEncoder(views=2, width=16, code_size=4, epochs=2, random_state=0)
    codes = encoder.fit_encode(images)
    features = encoder.backbone_.encode(images)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    expected = np.asarray(encoder.head_(features, training=False))
    assert relative_differences(expected, codes).max() < TOLERANCE
    encoder.save(tmp_path)
    loaded = ContrastiveEncoder.load(tmp_path, encoder.get_params())
    assert loaded.network_._model is None  # the head's conversion came from the cache; Keras was not needed
    np.testing.assert_array_equal(loaded.encode(images), encoder.encode(images))


def saved_cae(encoder: ConvAutoencoder, folder) -> TrainedNetwork:
    folder.mkdir()
    encoder.save(folder)
    return ConvAutoencoder.load(folder, encoder.get_params())


def test_a_loaded_autoencoder_reads_keras_only_when_asked(trained_cae, tmp_path):
    encoder, images = trained_cae
    loaded = saved_cae(encoder, tmp_path / "save")
    assert loaded.network_._model is None
    np.testing.assert_allclose(loaded.encode(images), encoder.encode(images), rtol=1e-6, atol=1e-7)
    again = saved_cae(loaded, tmp_path / "again")  # its file copied, not written by Keras
    assert (tmp_path / "again" / "autoencoder.keras").read_bytes() == (tmp_path / "save" / "autoencoder.keras").read_bytes()
    assert again.network_._model is None
    np.testing.assert_allclose(loaded.reconstruct(images[:2]), encoder.reconstruct(images[:2]), rtol=1e-5, atol=1e-6)


def test_a_model_file_changed_after_the_load_is_refused_when_keras_needs_it(trained_cae, tmp_path):
    encoder, images = trained_cae
    loaded = saved_cae(encoder, tmp_path / "save")
    model_file = tmp_path / "save" / "autoencoder.keras"
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="autoencoder.keras changed since its save was loaded"):
        loaded.reconstruct(images[:1])
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="autoencoder.keras changed since its save was loaded"):
        loaded.save(tmp_path / "other")


def test_a_save_whose_parameters_were_changed_has_its_model_checked_despite_the_cached_conversion(trained_cae, tmp_path):
    encoder, _ = trained_cae
    saved_cae(encoder, tmp_path / "save")  # its conversion is cached
    params = {**encoder.get_params(), "filters": (8, 8)}
    with pytest.raises(ValueError, match=r"autoencoder.keras does not fit the encoder's parameters: its encoder's filters"):
        ConvAutoencoder.load(tmp_path / "save", params)


@pytest.mark.slow
def test_a_saved_autoencoder_pipeline_queries_without_tensorflow(fitted, data_dir, tmp_path):
    folder = tmp_path / "save"
    fitted.save(folder)  # the session's tiny autoencoder pipeline: no training of its own
    assert query_in_a_child(folder, data_dir / "chelsea.jpg")[1:] == ["[]"]


@pytest.mark.slow
def test_the_feature_map_autoencoder_runs_its_maps_and_encoder_on_litert(data_dir, tmp_path):
    import keras

    from cae_sim.encoders import FeatureMapAutoencoder
    from cae_sim.encoders.pretrained import last_feature_map

    images = photos(data_dir, 64)
    encoder = FeatureMapAutoencoder(input_size=64, width=8, code_size=4, epochs=2, random_state=0)
    codes = encoder.fit_encode(images)
    assert isinstance(encoder.maps_, LiteRTModel)
    preprocessed = encoder.backbone_.preprocess(images)  # read_image gives floats in [0, 1]
    classifier = encoder.backbone_.classifier_
    keras_maps = np.asarray(keras.Model(classifier.inputs, last_feature_map(classifier).output).predict_on_batch(preprocessed))
    maps = encoder.maps_.predict_on_batch(preprocessed)
    assert np.abs(maps - keras_maps).max() < TOLERANCE * np.abs(keras_maps).max()
    standardised = encoder._standardised(maps.astype(np.float16))
    assert relative_differences(np.asarray(encoder.encoder_.predict_on_batch(standardised)), codes).max() < TOLERANCE
    np.testing.assert_array_equal(encoder.encode(images), codes)  # fit and encode round the same maps
    encoder.save(tmp_path)
    loaded = FeatureMapAutoencoder.load(tmp_path, encoder.get_params())
    assert loaded.network_._model is None
    np.testing.assert_array_equal(loaded.encode(images), codes)
