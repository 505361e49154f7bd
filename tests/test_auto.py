"""encoder="auto": the rule, its ImageNet probe, and what the pipeline does with its choice."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cae_sim import ConvAutoencoder, Pipeline, PretrainedEncoder, auto
from cae_sim.auto import AUTO_PRETRAINED, RECOGNISED, SMALL_PRETRAINED, SMALL_PRETRAINED_SETTINGS, choose_encoder, imagenet_confidence
from cae_sim.clustering import KMeansClustering, ManifoldClustering
from cae_sim.images import is_colour, read_sample, resize, to_rgb_uint8
from conftest import smooth_image, write_image

OBJECTS = ("chelsea", "coins", "rocket", "camera", "coffee")
TEXTURES = ("grass", "gravel", "brick", "hubble_deep_field")


def small_gray(data_dir, names, side: int = 48) -> np.ndarray:
    """Photos of data/ as small gray images."""
    images = [cv2.imread(str(data_dir / f"{name}.jpg"), cv2.IMREAD_GRAYSCALE) for name in names]
    return np.stack([cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA) for image in images])


def blobs(n: int = 5, side: int = 32) -> np.ndarray:
    return np.stack([smooth_image(i, side, side, channels=1)[..., 0] for i in range(n)])


@pytest.fixture
def confidence(monkeypatch):
    """Set what the rule's ImageNet probe returns; returns the list of item counts it was called with."""
    calls = []

    def set_to(value):
        monkeypatch.setattr(auto, "imagenet_confidence", lambda items: calls.append(len(items)) or value)
        return calls

    return set_to


# ---------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    "images, expected",
    [
        (np.stack([smooth_image(i, 28, 28) for i in range(4)]), AUTO_PRETRAINED),  # small, colour
        (np.stack([smooth_image(i, 63, 63, channels=1) for i in range(4)]), "cae"),  # gray, just under 64 px
        (np.stack([smooth_image(i, 64, 80, channels=1) for i in range(4)]), AUTO_PRETRAINED),  # gray, 64 px
        (np.repeat(np.stack([smooth_image(i, 20, 20, channels=1) for i in range(4)]), 3, axis=-1), "cae"),  # gray as RGB
    ],
)
def test_the_auto_rule_goes_by_colour_and_size_and_blurred_noise_is_not_recognised(images, expected):
    assert choose_encoder(images).name == expected


@pytest.mark.parametrize("value, expected", [(RECOGNISED, SMALL_PRETRAINED), (RECOGNISED - 0.01, "cae"), (0.0, "cae")])
def test_small_gray_images_take_the_pretrained_cnn_exactly_when_imagenet_recognises_them(confidence, value, expected):
    calls = confidence(value)
    choice = choose_encoder(blobs(6, 28))
    assert choice.name == expected and calls == [6]
    assert choice.manifold  # small gray images are clustered on a manifold either way
    assert choice.settings == (SMALL_PRETRAINED_SETTINGS if expected == SMALL_PRETRAINED else {})
    assert f"ImageNet confidence {value:.2f}" in choice.why


@pytest.mark.parametrize("images", [np.stack([smooth_image(i, 28, 28) for i in range(3)]), blobs(3, 64)])
def test_colour_or_large_images_are_not_probed(confidence, images):
    calls = confidence(1.0)
    choice = choose_encoder(images)
    assert (choice.name, choice.settings, choice.manifold, calls) == (AUTO_PRETRAINED, {"layer": "logits"}, False, [])


def test_the_auto_rule_reads_a_folder_and_passes_over_broken_files(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"photo{i}.png", smooth_image(i, 40, 40))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    choice = choose_encoder(sorted(str(p) for p in tmp_path.iterdir()))
    assert choice.describe() == f"{AUTO_PRETRAINED} (colour images, typical side 40 px: ImageNet class scores, layer='logits')"


@given(st.integers(0, 2**32 - 1), st.integers(8, 40))
def test_gray_stored_as_rgb_is_not_colour_and_saturated_colour_is(seed, side):
    gray = smooth_image(seed, side, side, channels=1)
    assert not is_colour(np.repeat(gray[np.newaxis], 3, axis=-1))
    tinted = np.repeat(gray[np.newaxis], 3, axis=-1).astype(np.int16)
    tinted[..., 0] = 255 - tinted[..., 0] // 2  # red channel far from the other two
    assert is_colour(tinted.clip(0, 255).astype(np.uint8))


# ---------------------------------------------------------------------- the probe


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 12), st.integers(4, 30), st.integers(8, 48))
def test_read_sample_takes_an_even_sample_resized(n, sample, side, size):
    images = np.stack([smooth_image(i, side, side + 3, channels=1)[..., 0] for i in range(n)])
    read = read_sample(images, size, sample)
    assert read.dtype == np.uint8 and read.shape[1:] == (size, size, 3)
    assert len(read) == min(n, sample)
    step = max(1, n // sample)
    np.testing.assert_array_equal(read, np.stack([resize(to_rgb_uint8(image), size) for image in images[::step][:sample]]))


def test_read_sample_passes_over_broken_files_and_may_read_none(tmp_path):
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        if i % 2:
            paths[-1].write_bytes(b"broken")
        else:
            write_image(paths[-1], smooth_image(i, 20, 20))
    assert read_sample([str(p) for p in paths], 16, 8).shape == (2, 16, 16, 3)
    assert read_sample([str(p) for p in paths[1::2]], 16, 8).shape == (0, 16, 16, 3)
    assert imagenet_confidence([str(p) for p in paths[1::2]]) == 0.0


@pytest.mark.slow
def test_imagenet_recognises_small_gray_photos_of_objects_but_not_textures_or_blurred_noise(data_dir):
    objects, textures = imagenet_confidence(small_gray(data_dir, OBJECTS)), imagenet_confidence(small_gray(data_dir, TEXTURES))
    noise = imagenet_confidence(blobs())
    assert 0.0 < max(textures, noise) < RECOGNISED <= objects <= 1.0


# ---------------------------------------------------------------------- what the pipeline does with the choice


def test_auto_clustering_takes_the_manifold_for_many_codes_when_the_encoder_or_rule_says_so():
    images = blobs(4, 28)
    assert Pipeline(encoder="cae")._make_encoder(images)[2] and ConvAutoencoder.cluster_on_manifold
    assert not Pipeline(encoder="efficientnet_lite0")._make_encoder(images)[2]
    assert not Pipeline(encoder=PretrainedEncoder())._make_encoder(images)[2]
    assert isinstance(Pipeline()._make_clustering(999, True), KMeansClustering)
    assert isinstance(Pipeline()._make_clustering(1000, True), ManifoldClustering)
    assert isinstance(Pipeline()._make_clustering(10**6, False), KMeansClustering)
    assert isinstance(Pipeline(clustering="manifold")._make_clustering(10, False), ManifoldClustering)
    assert isinstance(Pipeline(clustering="kmeans")._make_clustering(10**6, True), KMeansClustering)


@pytest.mark.slow
def test_auto_trains_the_autoencoder_on_small_gray_images_and_says_why(tmp_path):
    pipeline = Pipeline(n_clusters=2, epochs=1, random_state=0).fit(blobs(8, 28))
    assert pipeline.encoder_.name == "cae"
    assert pipeline.encoder_choice_.startswith("cae (gray images, typical side 28 px, ImageNet confidence 0.")
    pipeline.save(tmp_path / "saved")
    assert Pipeline.load(tmp_path / "saved").encoder_choice_ == pipeline.encoder_choice_


@pytest.mark.slow
def test_recognised_small_gray_images_get_the_small_pretrained_cnn_with_its_settings(confidence, tmp_path):
    confidence(0.9)
    pipeline = Pipeline(n_clusters=2, random_state=0).fit(blobs(8, 28))
    encoder = pipeline.encoder_
    assert (encoder.name, encoder.layer, encoder.input_size) == (SMALL_PRETRAINED, "logits", SMALL_PRETRAINED_SETTINGS["input_size"])
    assert pipeline.codes_.shape == (8, 1000)
    assert pipeline.encoder_choice_ == f"{SMALL_PRETRAINED} (gray images, typical side 28 px, ImageNet confidence 0.90 >= {RECOGNISED}: class scores at 160 px, on a UMAP manifold)"
    pipeline.save(tmp_path / "saved")
    loaded = Pipeline.load(tmp_path / "saved")
    assert (loaded.encoder_.layer, loaded.encoder_.input_size) == ("logits", SMALL_PRETRAINED_SETTINGS["input_size"])
    np.testing.assert_allclose(loaded.transform(blobs(2, 28)), pipeline.codes_[:2], rtol=1e-4, atol=1e-4)
