"""encoder="auto": one default for every collection, what the pipeline does with it, and the image sampling helpers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cae_sim import ConvAutoencoder, Model, Pipeline, PretrainedEncoder
from cae_sim.clustering import KMeansClustering
from cae_sim.defaults import (
    AUTO_FAISS_INDEX, AUTO_FAISS_MIN_CODES, DEFAULT_ENCODER, DEFAULT_SETTINGS, MANIFOLD_MIN_IMAGES, auto_image_size,
    choose_clustering, choose_encoder, choose_index,
)
from cae_sim.images import is_colour, read_sample, resize, to_rgb_uint8
from conftest import smooth_image, write_image


def blobs(n: int = 5, side: int = 32) -> np.ndarray:
    return np.stack([smooth_image(i, side, side, channels=1)[..., 0] for i in range(n)])


# ---------------------------------------------------------------------- the rule


def test_the_default_is_one_encoder_for_every_collection():
    choice = choose_encoder()
    assert (choice.name, choice.settings, choice.manifold) == (DEFAULT_ENCODER, DEFAULT_SETTINGS, False)
    assert choice.describe().startswith(f"{DEFAULT_ENCODER} (the default")
    choice.settings["layer"] = "changed"
    assert choose_encoder().settings == DEFAULT_SETTINGS  # each call gets its own settings


@pytest.mark.parametrize(
    "images",
    [
        np.stack([smooth_image(i, 28, 28) for i in range(4)]),  # small, colour
        blobs(4, 28),  # small, gray
        np.stack([smooth_image(i, 64, 80, channels=1) for i in range(4)]),  # gray, larger
    ],
)
def test_the_pipeline_gives_small_large_gray_and_colour_images_the_same_encoder(images):
    encoder, choice, manifold = Model()._make_encoder(images)
    assert (encoder.name, encoder.layer, encoder.input_size, manifold) == (DEFAULT_ENCODER, "pool", None, False)
    assert choice == choose_encoder().describe()


@given(st.integers(0, 2**32 - 1), st.integers(8, 40))
def test_gray_stored_as_rgb_is_not_colour_and_saturated_colour_is(seed, side):
    gray = smooth_image(seed, side, side, channels=1)
    assert not is_colour(np.repeat(gray[np.newaxis], 3, axis=-1))
    tinted = np.repeat(gray[np.newaxis], 3, axis=-1).astype(np.int16)
    tinted[..., 0] = 255 - tinted[..., 0] // 2  # red channel far from the other two
    assert is_colour(tinted.clip(0, 255).astype(np.uint8))


# ---------------------------------------------------------------------- sampling images


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


# ---------------------------------------------------------------------- what the pipeline does with the choice


def test_auto_clustering_takes_the_manifold_for_many_codes_when_the_encoder_or_rule_says_so():
    images = blobs(4, 28)
    assert Model(encoder="cae")._make_encoder(images)[2] and ConvAutoencoder.cluster_on_manifold
    assert not Model(encoder="efficientnet_lite0")._make_encoder(images)[2]
    assert not Model(encoder=PretrainedEncoder())._make_encoder(images)[2]
    assert choose_clustering("auto", True, MANIFOLD_MIN_IMAGES - 1) == "kmeans"
    assert choose_clustering("auto", True, MANIFOLD_MIN_IMAGES) == "manifold"
    assert choose_clustering("auto", False, 10**6) == "kmeans"
    assert choose_clustering("manifold", False, 10) == "manifold"
    assert choose_clustering("kmeans", True, 10**6) == "kmeans"


@pytest.mark.parametrize("n_codes, expected", [(1, "exact"), (AUTO_FAISS_MIN_CODES - 1, "exact"), (AUTO_FAISS_MIN_CODES, AUTO_FAISS_INDEX)])
def test_auto_index_is_exact_below_the_faiss_size_and_faiss_from_it_on(n_codes, expected):
    assert choose_index("auto", n_codes) == expected and choose_index("faiss-hnsw", n_codes) == "faiss-hnsw"


@pytest.mark.slow
def test_a_fitted_model_records_every_automatic_choice(tmp_path):
    model = Model(encoder="dhash", n_clusters=2, random_state=0).fit(blobs(6, 28))
    assert model.choices_ == {"encoder": "dhash", "clustering": "kmeans", "image_size": model.encoder_.image_size}
    pipeline = Pipeline(encoder="cae", n_clusters=2, epochs=1, code_size=4, random_state=0).fit(blobs(6, 20))
    assert pipeline.choices_["image_size"] == auto_image_size(20) == pipeline.encoder_.image_size == 24


@pytest.mark.slow
def test_auto_fits_the_default_with_k_means_and_the_save_records_the_choice(tmp_path):
    pipeline = Pipeline(n_clusters=2, random_state=0).fit(blobs(8, 28))
    assert (pipeline.encoder_.name, pipeline.encoder_.layer) == (DEFAULT_ENCODER, "pool")
    assert isinstance(pipeline.clustering_, KMeansClustering) and pipeline.codes_.shape == (8, 1280)
    assert pipeline.encoder_choice_ == choose_encoder().describe()
    pipeline.save(tmp_path / "saved")
    loaded = Pipeline.load(tmp_path / "saved")
    assert loaded.encoder_choice_ == pipeline.encoder_choice_ and loaded.encoder_.layer == "pool"
