import numpy as np
import pytest

from cae_sim import Pipeline
from cae_sim.encoders import ConvAutoencoder, Ensemble, PretrainedEncoder
from conftest import smooth_image


@pytest.fixture(scope="module")
def images():
    return np.stack([smooth_image(i, 224, 224) for i in range(4)])


@pytest.fixture(scope="module")
def ensemble(images):
    members = [PretrainedEncoder(layer="logits"), ConvAutoencoder(image_size=32, code_size=4, epochs=1, random_state=0)]
    return Ensemble(encoders=members, weights=[1.0, 0.5]).fit(images)


@pytest.mark.slow
def test_width_is_the_sum_and_each_part_is_weighted_unit_length(ensemble, images):
    codes = ensemble.encode(images)
    assert codes.shape == (4, 1000 + 4) and codes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(codes[:, :1000], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(codes[:, 1000:], axis=1), 0.5, rtol=1e-5)


@pytest.mark.slow
def test_each_member_sees_images_at_its_own_size(ensemble, images):
    assert ensemble.image_size == 224
    logits = ensemble.encoders_[0].encode(images)
    np.testing.assert_allclose(ensemble.encode(images)[:, :1000], logits / np.linalg.norm(logits, axis=1, keepdims=True), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_pipeline_takes_a_list_of_names_and_saves_it(data_dir, tmp_path):
    pipeline = Pipeline(encoder=["efficientnet_lite0", "efficientnet_lite0"], n_clusters=2).fit(
        [data_dir / "coffee.jpg", data_dir / "chelsea.jpg", data_dir / "rocket.jpg"]
    )
    assert pipeline.codes_.shape == (3, 2560)
    pipeline.save(tmp_path / "m")
    loaded = Pipeline.load(tmp_path / "m")
    assert loaded.get_params()["encoder"] == ["efficientnet_lite0", "efficientnet_lite0"]
    np.testing.assert_array_equal(loaded.transform([data_dir / "coffee.jpg"]), pipeline.transform([data_dir / "coffee.jpg"]))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"encoders": ["efficientnet_lite0"]}, "at least two"),
        ({"encoders": None}, "at least two"),
        ({"encoders": ["efficientnet_lite0", "nope"]}, "'nope'"),
        ({"encoders": ["efficientnet_lite0", "efficientnet_lite0"], "weights": [1.0]}, "2 non-negative"),
        ({"encoders": ["efficientnet_lite0", "efficientnet_lite0"], "weights": [-1, 2]}, "non-negative"),
    ],
)
def test_bad_parameters_are_named(images, params, message):
    with pytest.raises(ValueError, match=message):
        Ensemble(**params).fit(images)


def test_fit_encode_has_each_member_encode_the_images_once_and_gives_what_encode_gives(images, monkeypatch):
    from cae_sim.encoders import DHash, PHash

    calls = []
    for cls in (PHash, DHash):
        original = cls.encode
        monkeypatch.setattr(cls, "encode", lambda self, x, _o=original, _c=cls: calls.append(_c.__name__) or _o(self, x))
    ensemble = Ensemble(encoders=[PHash(), DHash()], weights=[1.0, 2.0])
    codes = ensemble.fit_encode(images)
    assert sorted(calls) == ["DHash", "PHash"]
    np.testing.assert_array_equal(codes, ensemble.encode(images))
    np.testing.assert_allclose(np.linalg.norm(codes[:, 64:], axis=1), 2.0, rtol=1e-5)
