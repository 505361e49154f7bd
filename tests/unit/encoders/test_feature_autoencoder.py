import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cae_sim import FeatureMapAutoencoder, read_image
from cae_sim.encoders.feature_autoencoder import _channel_moments
from conftest import DATA, OBJECTS, TEXTURES, nearest_neighbour_agreement, smooth_image

SIDE = 96


@given(arrays(np.float16, st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)),
              elements=st.floats(-100, 100, width=16)), st.integers(1, 4))
def test_channel_moments_match_numpy_whatever_the_chunk(maps, chunk):
    mean, std = _channel_moments(maps, chunk=chunk)
    wide = maps.astype(np.float64)
    np.testing.assert_allclose(mean, wide.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(std, wide.std(axis=(0, 1, 2)) + 1e-6, rtol=1e-3, atol=1e-2)
    assert mean.dtype == std.dtype == np.float32 and (std > 0).all()


@pytest.mark.parametrize(
    "params, named",
    [
        ({"backbone": "alexnet"}, "backbone"),
        ({"input_size": 16}, "input_size"),
        ({"code_size": 0}, "code_size"),
        ({"width": 2.5}, "width"),
        ({"epochs": True}, "epochs"),
        ({"max_train_images": -1}, "max_train_images"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"random_state": -3}, "random_state"),
        ({"batch_size": 0}, "batch_size"),
        ({"verbose": "loud"}, "verbose must be an int >= 0, got 'loud'"),
    ],
)
def test_bad_parameters_are_refused_by_name_before_any_work(params, named):
    with pytest.raises(ValueError, match=named):
        FeatureMapAutoencoder(**{"input_size": 32, **params}).fit(np.zeros((4, 32, 32, 3), np.uint8))


@pytest.mark.parametrize("images", [np.zeros((1, 32, 32, 3), np.uint8), np.zeros((4, 16, 16, 3), np.uint8), [[0]]])
def test_too_few_images_or_the_wrong_shape_are_refused(images):
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\)"):
        FeatureMapAutoencoder(input_size=32).fit(images)


def test_encoding_before_fit_raises():
    with pytest.raises(Exception, match="not fitted"):
        FeatureMapAutoencoder(input_size=32).encode(np.zeros((2, 32, 32, 3), np.uint8))


@pytest.mark.slow
def test_it_trains_on_a_seeded_sample_and_encodes_every_image():
    images = np.stack([smooth_image(i, 32, 32) for i in range(12)])
    params = dict(input_size=32, width=8, code_size=4, epochs=3, batch_size=4, max_train_images=6, random_state=0)
    first, second = FeatureMapAutoencoder(**params).fit(images), FeatureMapAutoencoder(**params).fit(images)
    assert len(first.history_["loss"]) == 3 and first.channel_mean_.shape == (1280,)
    codes = first.encode(images)
    assert codes.shape == (12, 4) and codes.dtype == np.float32
    np.testing.assert_allclose(second.encode(images), codes, rtol=1e-5, atol=1e-6)  # same seed, same sample and weights


@pytest.mark.slow
def test_its_codes_tell_textures_from_objects_better_than_raw_pixels():
    names = TEXTURES + OBJECTS
    images = np.stack([np.rint(read_image(DATA / name, SIDE) * 255).astype(np.uint8) for name in names])
    groups = np.array([0] * len(TEXTURES) + [1] * len(OBJECTS))
    training = np.concatenate([images, images[:, :, ::-1]])  # mirrored copies: a few more maps to learn from
    encoder = FeatureMapAutoencoder(input_size=SIDE, code_size=8, epochs=40, batch_size=6, random_state=0).fit(training)
    pixels = images.reshape(len(images), -1).astype(np.float32)
    pixels -= pixels.mean(axis=0)
    assert encoder.history_["loss"][-1] < encoder.history_["loss"][0]
    assert nearest_neighbour_agreement(encoder.encode(images), groups) > nearest_neighbour_agreement(pixels, groups)


@pytest.mark.slow
def test_fit_encode_runs_the_backbone_once_per_image_and_gives_the_codes_encode_gives(monkeypatch):
    images = np.stack([smooth_image(i, 32, 32) for i in range(12)])
    params = dict(input_size=32, width=8, code_size=4, epochs=2, batch_size=4, max_train_images=6, random_state=0)
    seen = []
    forward = FeatureMapAutoencoder._forward_maps

    def counting(self, batch):
        seen.append(len(batch))
        return forward(self, batch)

    monkeypatch.setattr(FeatureMapAutoencoder, "_forward_maps", counting)
    encoder = FeatureMapAutoencoder(**params)
    codes = encoder.fit_encode(images)
    assert sum(seen) == len(images)  # the 6 sampled images in fit, the 6 others after: none twice
    np.testing.assert_allclose(codes, encoder.encode(images), rtol=1e-5, atol=1e-5)
    seen.clear()
    FeatureMapAutoencoder(**params).fit(images).encode(images)
    assert sum(seen) == 6 + len(images)


@pytest.mark.slow
def test_saved_and_loaded_to_the_same_codes_and_refused_by_name_where_the_parameters_disagree(tmp_path):
    images = np.stack([smooth_image(i, 32, 32) for i in range(6)])
    params = dict(input_size=32, width=8, code_size=4, epochs=1, batch_size=4, random_state=0)
    fitted = FeatureMapAutoencoder(**params).fit(images)
    fitted.save(tmp_path)
    loaded = FeatureMapAutoencoder.load(tmp_path, fitted.get_params())
    np.testing.assert_array_equal(loaded.encode(images), fitted.encode(images))
    for changed, named in [({"code_size": 5}, r"feature_encoder\.keras does not fit .* its code shape"),
                           ({"width": 9}, r"feature_encoder\.keras does not fit .* its convolutions' filters"),
                           ({"input_size": 64}, r"backbone does not fit .* its encoder, model and input size")]:
        with pytest.raises(ValueError, match=named):
            FeatureMapAutoencoder.load(tmp_path, fitted.get_params() | changed)
