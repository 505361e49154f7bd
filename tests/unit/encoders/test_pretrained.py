import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import skimage.data

from cae_sim import Pipeline
from cae_sim.encoders.backbones import BACKBONES
from cae_sim.encoders.pretrained import PretrainedEncoder, imagenet_class_names
from cae_sim.images import read_image
from conftest import smooth_image

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat"}


def installed(model: str) -> bool:
    try:
        return BACKBONES[model].weights_file().is_file()
    except ValueError:  # its weights package is not installed
        return False


@pytest.fixture(scope="module")
def lite0():
    return PretrainedEncoder(model="efficientnet_lite0").fit()


def photo(image: np.ndarray, size: int) -> np.ndarray:
    return read_image(image, size)[np.newaxis]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["efficientnet_lite0", "efficientnet_lite2", "mobilenet_v2"])
def test_sample_photos_get_their_imagenet_classes(model, lite0):
    if not installed(model):
        pytest.skip(f"{model}'s weights package is not installed")
    encoder = lite0 if model == "efficientnet_lite0" else PretrainedEncoder(model=model).fit()
    size = encoder.image_size
    cat_top5 = [name for name, _ in encoder.predict_classes(photo(skimage.data.chelsea(), size))[0]]
    assert CAT_CLASSES & set(cat_top5)
    coffee = encoder.predict_classes(photo(skimage.data.coffee(), size), top=3)[0]
    assert coffee[0][0] == "espresso"
    assert [p for _, p in coffee] == sorted((p for _, p in coffee), reverse=True)


@pytest.mark.slow
@pytest.mark.parametrize("layer, width", [("pool", 1280), ("logits", 1000), ("softmax", 1000), ("blocks_15_project_conv", 320)])
def test_feature_width_and_dtype_per_layer(layer, width):
    encoder = PretrainedEncoder(layer=layer).fit()
    images = np.stack([smooth_image(i, 224, 224) for i in range(3)])
    codes = encoder.encode(images)
    assert codes.shape == (3, width) and codes.dtype == np.float32
    if layer == "softmax":
        np.testing.assert_allclose(codes.sum(axis=1), 1.0, rtol=1e-4)


def test_uint8_and_float_images_give_the_same_features(lite0):
    images = np.stack([smooth_image(i, 224, 224) for i in range(2)])
    np.testing.assert_allclose(lite0.encode(images), lite0.encode(images / 255.0), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_converted_weights_are_cached(lite0, tmp_path, monkeypatch):
    monkeypatch.setenv("CAE_SIM_CACHE", str(tmp_path))
    first = PretrainedEncoder().fit()
    cached = list(tmp_path.glob("efficientnet_lite0-*.weights.h5"))
    assert len(cached) == 1
    second = PretrainedEncoder().fit()  # loads the cache
    image = photo(skimage.data.coffee(), 224)
    np.testing.assert_allclose(second.encode(image), first.encode(image), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_pipeline_with_the_pretrained_default(data_dir, tmp_path):
    pipeline = Pipeline(encoder="efficientnet_lite0", n_clusters=3, random_state=0).fit(data_dir)
    assert pipeline.codes_.shape == (12, 1280)
    assert pipeline.query(data_dir / "coffee.jpg", n=1)[0].path.endswith("coffee.jpg")
    pipeline.save(tmp_path / "model")
    assert sum(p.stat().st_size for p in (tmp_path / "model").rglob("*")) < 1_000_000  # no weights copied
    loaded = Pipeline.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.codes_, pipeline.codes_)
    assert loaded.query(data_dir / "rocket.jpg", n=3) == pipeline.query(data_dir / "rocket.jpg", n=3)


@pytest.mark.slow
def test_a_save_refuses_other_weights(data_dir, tmp_path):
    pipeline = Pipeline(encoder="efficientnet_lite0", n_clusters=2).fit([data_dir / "coffee.jpg", data_dir / "rocket.jpg"])
    pipeline.encoder_.weights_sha256_ = "0" * 64
    pipeline.save(tmp_path / "model")
    loaded = Pipeline.load(tmp_path / "model")  # a save's encoder is read on first use
    with pytest.raises(ValueError, match="weights of 'efficientnet_lite0' differ"):
        loaded.transform([data_dir / "coffee.jpg"])


@pytest.mark.slow
def test_a_local_weights_file_is_used(tmp_path):
    import keras

    reference = keras.applications.MobileNetV3Small(weights=None, classifier_activation=None)
    reference.save_weights(tmp_path / "small.weights.h5")
    encoder = PretrainedEncoder(model="mobilenet_v3_small", layer="logits", weights=tmp_path / "small.weights.h5").fit()
    images = np.stack([smooth_image(i, 224, 224) for i in range(2)])
    expected = reference.predict(BACKBONES["mobilenet_v3_small"].preprocess(images / 255.0), verbose=0)
    np.testing.assert_allclose(encoder.encode(images), expected, rtol=1e-4, atol=1e-4)


def test_an_unreachable_download_fails_fast_with_advice(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(OSError) as raised:
        PretrainedEncoder(model="mobilenet_v3_small").fit()
    message = str(raised.value)
    assert f"copy weights_mobilenet_v3_small_224_1.0_float.h5, downloaded by Keras elsewhere, into {tmp_path / 'models'}" in message
    assert "choose an encoder whose weights a package brings: efficientnet_lite0 (the default), efficientnet_lite2, mobilenet_v2." in message
    assert "weights=" not in message  # a Python-only parameter: no advice for the command line


def test_mobilenet_v2_pads_like_torch_not_like_keras():
    import keras

    from cae_sim.encoders.mobilenet_v2 import build

    model = build()
    assert not any(getattr(layer, "padding", "valid") == "same" for layer in model.layers)
    paddings = [layer for layer in model.layers if isinstance(layer, keras.layers.ZeroPadding2D)]
    assert paddings and all(layer.padding == ((1, 1), (1, 1)) for layer in paddings)
    assert {layer.epsilon for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)} == {1e-5}


def test_caffe_style_models_get_bgr_mean_centred_input():
    red = np.zeros((1, 2, 2, 3), np.float32)
    red[..., 0] = 1.0
    for model in ("vgg16", "resnet50"):
        out = BACKBONES[model].preprocess(red.copy())
        np.testing.assert_allclose(out[0, 0, 0], [-103.939, -116.779, 255 - 123.68], atol=1e-3)
    np.testing.assert_allclose(BACKBONES["efficientnet_lite0"].preprocess(red)[0, 0, 0], [1.0, -127 / 128, -127 / 128])
    torch_style = [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225]
    np.testing.assert_allclose(BACKBONES["mobilenet_v2"].preprocess(red)[0, 0, 0], torch_style, rtol=1e-5)


def test_class_names_are_the_thousand_imagenet_classes():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[281] == "tabby" and names[967] == "espresso"


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"model": "alexnet"}, ValueError, "unknown pretrained model 'alexnet'"),
        ({"layer": "no_such_layer"}, ValueError, "no layer 'no_such_layer'"),
        ({"weights": "/nowhere/w.weights.h5"}, OSError, "no such weights file"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"input_size": 16}, ValueError, "input_size must be an int >= 32"),
        ({"model": "vgg16", "input_size": 96}, ValueError, "'vgg16' takes 224-px images only"),
    ],
)
def test_bad_parameters_are_named(params, error, message):
    with pytest.raises(error, match=message):
        PretrainedEncoder(**params).fit()


@pytest.mark.slow
def test_a_smaller_input_keeps_the_weights_and_still_knows_a_cat(lite0):
    small = PretrainedEncoder(input_size=160).fit()
    assert small.image_size == 160
    for resized, native in zip(small.classifier_.get_weights(), lite0.classifier_.get_weights()):
        np.testing.assert_array_equal(resized, native)
    assert CAT_CLASSES & {name for name, _ in small.predict_classes(photo(skimage.data.chelsea(), 160))[0]}


@pytest.mark.slow
def test_pipeline_image_size_sets_a_pretrained_cnns_input_side(data_dir):
    pipeline = Pipeline(encoder="efficientnet_lite0", image_size=64, n_clusters=2).fit(data_dir)
    assert pipeline.encoder_.image_size == 64 and pipeline.codes_.shape == (12, 1280)


def test_pipeline_rejects_an_image_size_for_a_fixed_size_model(data_dir):
    with pytest.raises(ValueError, match="image_size=64 does not apply to encoder .phash.; leave it None"):
        Pipeline(encoder="phash", image_size=64).fit(data_dir)


def test_wrong_image_size_is_rejected(lite0):
    with pytest.raises(ValueError, match=r"\(N, 224, 224, 3\)"):
        lite0.encode(np.zeros((1, 64, 64, 3), np.uint8))


def guard_sockets(monkeypatch) -> list:
    """Make every connection fail, and record who tried."""
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is closed in this test")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    return attempts


def saved_encoder(directory, sha256=None):
    directory.mkdir()
    (directory / "pretrained.json").write_text(json.dumps({"weights_sha256": sha256}))
    return directory


def test_a_saved_keras_application_missing_from_keras_cache_is_refused_without_the_network(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # an empty Keras cache
    attempts = guard_sockets(monkeypatch)
    with pytest.raises(ValueError, match=r"ImageNet weights of 'vgg16' are not in Keras' cache \(.*keras/models/"
                                         r"vgg16_weights_tf_dim_ordering_tf_kernels.h5\), and a saved encoder is never downloaded"):
        PretrainedEncoder.load(saved_encoder(tmp_path / "encoder"), {"model": "vgg16"})
    assert attempts == []


def test_a_saved_weights_file_without_a_hash_is_refused(tmp_path):
    weights = tmp_path / "outside.weights.h5"
    weights.write_bytes(b"not read")
    with pytest.raises(ValueError, match=r"names the weights file '.*outside.weights.h5' but records no sha256"):
        PretrainedEncoder.load(saved_encoder(tmp_path / "encoder"), {"model": "mobilenet_v3_small", "weights": str(weights)})


def test_a_changed_weights_file_is_refused_before_keras_reads_it(tmp_path):
    weights = tmp_path / "changed.weights.h5"
    weights.write_bytes(b"no HDF5 file: Keras would fail on it")
    with pytest.raises(ValueError, match=r"weights of 'mobilenet_v3_small' differ from those the pipeline was saved with: .*changed"):
        PretrainedEncoder.load(saved_encoder(tmp_path / "encoder", "0" * 64), {"model": "mobilenet_v3_small", "weights": str(weights)})


@pytest.mark.slow
def test_a_keras_application_is_fitted_from_keras_cache_and_its_save_loads_offline(tmp_path):
    code = """
import shutil, socket, sys
from pathlib import Path
import h5py, keras, numpy as np
from keras.src.legacy.saving import legacy_h5_format
from cae_sim import Pipeline
from cae_sim.encoders.backbones import BACKBONES

attempts = []
def no_network(*args, **kwargs):
    attempts.append(args)
    raise OSError("network is closed in this test")
socket.create_connection = socket.socket.connect = no_network

cached = BACKBONES["mobilenet_v3_small"].default_weights()  # in the empty KERAS_HOME: as if Keras had downloaded it
cached.parent.mkdir(parents=True, exist_ok=True)
with h5py.File(cached, "w") as file:
    legacy_h5_format.save_weights_to_hdf5_group(file, keras.applications.MobileNetV3Small(weights=None, classifier_activation=None))
images = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
fitted = Pipeline(encoder="mobilenet_v3_small", n_clusters=2, random_state=0).fit(images)
fitted.save(sys.argv[1])
shutil.move(cached, cached.with_suffix(".away"))
try:
    Pipeline.load(sys.argv[1]).transform(images[:1])
    raise AssertionError("loaded without its weights")
except ValueError as error:
    assert "not in Keras' cache" in str(error) and "never downloaded" in str(error), error
shutil.move(cached.with_suffix(".away"), cached)
np.testing.assert_allclose(Pipeline.load(sys.argv[1]).transform(images), fitted.codes_, rtol=1e-5, atol=1e-5)
assert attempts == [], attempts
"""
    environment = os.environ | {"KERAS_HOME": str(tmp_path / "keras")}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model")], env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_each_keras_application_names_the_file_keras_caches_its_weights_as():
    code = """
import keras
from keras.src.layers.layer import Layer
from keras.src.utils import file_utils
from cae_sim.encoders.backbones import BACKBONES, KerasApplication

class Asked(Exception):
    pass

def asked(fname=None, origin=None, **kwargs):
    raise Asked(fname, kwargs.get("cache_subdir"))

file_utils.get_file = asked
# Every layer passes its (first) input through: an application still names its weights file from its arguments, and
# gets there without building its network (3 s for all of them instead of 25). One that needs a real layer fails here.
Layer.__call__ = lambda self, inputs, *args, **kwargs: inputs[0] if isinstance(inputs, (list, tuple)) else inputs
for name in BACKBONES:
    backbone = BACKBONES[name]
    if isinstance(backbone, KerasApplication):
        try:
            getattr(keras.applications, backbone.constructor)(classifier_activation=None)
        except Asked as error:
            assert error.args == (backbone.cached_as, "models"), (name, error.args)
        else:
            raise AssertionError(f"{name} asked for no file")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
