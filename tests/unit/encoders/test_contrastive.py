import numpy as np
import pytest
import tensorflow as tf

from cae_sim import Augment, ContrastiveEncoder, ConvAutoencoder, Pipeline, read_image
from cae_sim.encoders.contrastive import nt_xent
from cae_sim.codes import l2_normalize
from conftest import DATA, TINY, smooth_image

PHOTOS = sorted(DATA.glob("*.jpg"))


def test_nt_xent_of_identical_views_is_lower_than_of_random_pairs():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(16, 8)).astype(np.float32)
    same = float(nt_xent(codes, codes, 0.1))
    random = float(nt_xent(codes, rng.normal(size=(16, 8)).astype(np.float32), 0.1))
    assert same < random
    # with far-apart codes a view finds its partner for sure: the loss falls towards 0
    assert float(nt_xent(tf.eye(16) * 10, tf.eye(16) * 10, 0.05)) < 1e-3


@pytest.fixture(scope="module")
def photos():
    images = [np.rint(read_image(path, 224) * 255).astype(np.uint8) for path in PHOTOS]
    return np.stack(images + [smooth_image(i, 224, 224) for i in range(16 - len(images))])


@pytest.fixture(scope="module")
def trained(photos):
    params = dict(views=4, epochs=30, code_size=16, width=64, output="head", random_state=0)
    return ContrastiveEncoder(**params).fit(photos)


@pytest.mark.slow
def test_a_trained_head_puts_views_of_one_image_nearer_than_views_of_others(trained, photos):
    views = np.concatenate([Augment.preset("simclr", random_state=seed)(photos) for seed in (10, 11)])
    codes = l2_normalize(trained.encode(views))
    similarity = codes @ codes.T
    np.fill_diagonal(similarity, -np.inf)
    owner = np.tile(np.arange(len(photos)), 2)
    found = owner[similarity.argmax(axis=1)] == owner
    same = owner[:, None] == owner[None, :]
    np.fill_diagonal(same, False)
    assert found.mean() >= 0.8
    assert similarity[same].mean() > similarity[~same & np.isfinite(similarity)].mean() + 0.3
    assert trained.history_["loss"][-1] < trained.history_["loss"][0]


@pytest.mark.slow
def test_codes_are_float32_of_the_head_or_beside_the_backbone(trained, photos):
    assert trained.encode(photos[:3]).shape == (3, 16) and trained.encode(photos[:3]).dtype == np.float32
    trained.set_params(output="concat")
    try:
        codes = trained.encode(photos[:3])
        assert codes.shape == (3, 1280 + 16)
        np.testing.assert_allclose(np.linalg.norm(codes, axis=1), np.sqrt(2), rtol=1e-4)
    finally:
        trained.set_params(output="head")


@pytest.mark.slow
def test_same_seed_same_codes_and_a_fitted_backbone_is_kept(photos):
    images = np.stack([smooth_image(i, 16, 16) for i in range(8)])
    cae = ConvAutoencoder(**TINY).fit(images)
    params = dict(backbone=cae, views=3, epochs=3, code_size=4, width=8, augment={"flip": True, "noise": 0.1}, random_state=1)
    first, second = ContrastiveEncoder(**params).fit(images), ContrastiveEncoder(**params).fit(images)
    assert first.backbone_ is cae
    np.testing.assert_array_equal(first.encode(images), second.encode(images))


@pytest.mark.slow
def test_an_unfitted_backbone_object_is_fitted_on_the_images():
    images = np.stack([smooth_image(i, 16, 16) for i in range(8)])
    encoder = ContrastiveEncoder(backbone=ConvAutoencoder(**TINY), views=2, epochs=1, code_size=4, width=8).fit(images)
    assert hasattr(encoder.backbone_, "autoencoder_") and encoder.encode(images).shape == (8, 4)


@pytest.mark.slow
def test_saved_with_the_pipeline_and_loaded_back_to_identical_codes(tmp_path):
    encoder = ContrastiveEncoder(views=2, epochs=5, code_size=8, width=16, random_state=0)
    pipeline = Pipeline(encoder=encoder, n_clusters=2, random_state=0).fit(DATA)
    pipeline.save(tmp_path / "model")
    loaded = Pipeline.load(tmp_path / "model")
    assert loaded.encoder_.get_params()["augment"] == "degrade"
    np.testing.assert_array_equal(loaded.transform(PHOTOS[:3]), pipeline.transform(PHOTOS[:3]))
    assert loaded.query(PHOTOS[4], n=1)[0].path == str(PHOTOS[4])


@pytest.mark.slow
@pytest.mark.parametrize("changed", [{"width": 65}, {"code_size": 17}])
def test_a_head_that_does_not_fit_the_parameters_is_refused_by_name(tmp_path, trained, changed):
    trained.save(tmp_path)
    with pytest.raises(ValueError, match=r"head\.keras does not fit the encoder's parameters: its Dense layers' units"):
        ContrastiveEncoder.load(tmp_path, trained.get_params() | changed)


@pytest.mark.slow
def test_a_policy_object_is_saved_as_its_keywords_and_loads_as_the_same_policy(tmp_path):
    import json

    policy = Augment(flip=True, blur=0.5)
    encoder = ContrastiveEncoder(views=2, epochs=1, code_size=4, width=8, augment=policy, random_state=0)
    Pipeline(encoder=encoder, n_clusters=1).fit(PHOTOS[:3]).save(tmp_path / "model")
    saved = json.loads((tmp_path / "model" / "manifest.json").read_text())["model"]["encoder"]["config"]["augment"]
    assert saved["config"] == json.loads(json.dumps(policy.get_params()))
    loaded = Pipeline.load(tmp_path / "model").encoder_.augment
    assert isinstance(loaded, Augment) and loaded.get_params() == policy.get_params()


@pytest.mark.slow
def test_pipeline_builds_it_by_name_with_its_own_defaults():
    pipeline = Pipeline(encoder="contrastive", n_clusters=1, epochs=2, random_state=0).fit(PHOTOS[:4])
    encoder = pipeline.encoder_
    assert isinstance(encoder, ContrastiveEncoder) and encoder.code_size == 128 and encoder.epochs == 2
    assert pipeline.codes_.shape == (4, 128)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(views=1), "views"),
        (dict(temperature=0), "temperature"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(output="both"), "output"),
        (dict(batch_size=1), "batch_size"),
        (dict(augment="nope"), "'nope'"),
        (dict(backbone="no_such_net"), "'no_such_net'"),
        (dict(backbone=["efficientnet_lite0"]), r"backbone must be .*two or more.*\['efficientnet_lite0'\]"),
        (dict(cache_dir=3), "cache_dir must be a folder's path, got 3"),
        (dict(verbose=-1), "verbose"),
    ],
)
def test_bad_parameters_are_named(photos, params, message):
    with pytest.raises(ValueError, match=message):
        ContrastiveEncoder(**params).fit(photos[:2])


def test_one_image_or_the_wrong_size_is_refused(photos):
    with pytest.raises(ValueError, match="at least 2 images"):
        ContrastiveEncoder().fit(photos[:1])
    with pytest.raises(ValueError, match=r"\(N, 224, 224, 3\)"):
        ContrastiveEncoder().fit(photos[:, :100])


@pytest.fixture(scope="module")
def tiny_backbone():
    """A tiny autoencoder fitted once on 8 smooth images, the backbone of both outputs' fit_encode test."""
    images = np.stack([smooth_image(i, 16, 16) for i in range(8)])
    return ConvAutoencoder(**TINY).fit(images), images


@pytest.mark.parametrize("output", ["head", "concat"])
@pytest.mark.slow
def test_fit_encode_runs_the_backbone_once_per_view_and_gives_the_codes_encode_gives(output, tiny_backbone, monkeypatch):
    cae, images = tiny_backbone
    seen = []
    encode = ConvAutoencoder.encode
    monkeypatch.setattr(ConvAutoencoder, "encode", lambda self, batch: seen.append(len(batch)) or encode(self, batch))
    encoder = ContrastiveEncoder(backbone=cae, views=3, epochs=2, code_size=4, width=8, output=output, random_state=1)
    codes = encoder.fit_encode(images)
    assert sum(seen) == 3 * len(images)  # each view once; the images' codes come from view 0's cached features
    np.testing.assert_allclose(codes, encoder.encode(images), rtol=1e-5, atol=1e-6)
    assert codes.shape == (8, 4 if output == "head" else 8 + 4)
