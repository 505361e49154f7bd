import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from cae_sim import ConvAutoencoder, Match, PHash, Pipeline, SkippedImagesWarning
from cae_sim.defaults import DEFAULT_ENCODER
from conftest import TINY, smooth_image


def test_fitted_attributes_follow_the_contract(fitted, data_dir):
    n = len(list(data_dir.glob("*.jpg")))
    assert fitted.codes_.shape == (n, TINY["code_size"]) and fitted.codes_.dtype == np.float32
    assert fitted.labels_.shape == (n,) and set(fitted.labels_) <= {0, 1, 2}
    assert fitted.paths_ == sorted(str(p) for p in data_dir.glob("*.jpg"))
    assert fitted.skipped_ == []
    assert fitted.n_clusters_ == 3 and fitted.cluster_centers_.shape == (3, TINY["code_size"])


def test_init_only_stores_parameters():
    pipeline = Pipeline(n_clusters=7, metric="euclidean")
    assert pipeline.get_params()["n_clusters"] == 7
    assert not [name for name in vars(pipeline) if name.endswith("_")]
    assert clone(pipeline).get_params() == pipeline.get_params()


@given(st.sampled_from(["astronaut", "chelsea", "coffee", "rocket", "coins"]), st.integers(1, 20))
def test_query_finds_the_image_itself_first_and_scores_best_first(fitted, data_dir, name, n):
    matches = fitted.query(data_dir / f"{name}.jpg", n=n)
    assert len(matches) == min(n, len(fitted.paths_))
    assert all(isinstance(m, Match) for m in matches)
    assert matches[0].path == str(data_dir / f"{name}.jpg")
    assert matches[0].score == pytest.approx(1.0, abs=1e-4)
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True)
    assert all(fitted.paths_[m.index] == m.path for m in matches)


def test_kneighbors_of_the_fitted_set_starts_with_itself(fitted):
    distances, indices = fitted.kneighbors(fitted.paths_, n_neighbors=4)
    assert indices.shape == distances.shape == (len(fitted.paths_), 4)
    np.testing.assert_array_equal(indices[:, 0], np.arange(len(fitted.paths_)))
    assert (np.diff(distances, axis=1) >= -1e-6).all()


def test_transform_and_predict_agree_with_fit(fitted):
    np.testing.assert_allclose(fitted.transform(fitted.paths_), fitted.codes_, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(fitted.predict(fitted.paths_), fitted.labels_)


def test_similarity_is_symmetric_and_one_for_the_same_image(fitted, data_dir):
    a, b = data_dir / "chelsea.jpg", data_dir / "coffee.jpg"
    assert fitted.similarity(a, a) == pytest.approx(1.0, abs=1e-5)
    assert fitted.similarity(a, b) == pytest.approx(fitted.similarity(b, a), abs=1e-6)
    codes = fitted.transform([a, b])
    expected = codes[0] @ codes[1] / np.linalg.norm(codes[0]) / np.linalg.norm(codes[1])
    assert fitted.similarity(a, b) == pytest.approx(expected, abs=1e-5)


def test_distance_to_center_matches_the_centres(fitted):
    unit = fitted.codes_ / np.linalg.norm(fitted.codes_, axis=1, keepdims=True)
    expected = np.linalg.norm(unit - fitted.cluster_centers_[fitted.labels_], axis=1)
    np.testing.assert_allclose(fitted.distance_to_center(), expected, atol=1e-5)


@pytest.mark.slow
def test_array_input_has_no_paths_and_euclidean_scores():
    images = np.stack([smooth_image(i, 20, 20) for i in range(10)])
    pipeline = Pipeline(encoder="cae", n_clusters=2, metric="euclidean", **TINY).fit(images)
    assert pipeline.paths_ is None and pipeline.codes_.shape == (10, TINY["code_size"])
    matches = pipeline.query(images[3], n=3)
    assert matches[0] == Match(3, None, pytest.approx(1.0, abs=1e-4))
    assert 0 < matches[1].score < 1


@pytest.mark.slow
def test_gray_batches_are_accepted():
    images = np.stack([smooth_image(i, 20, 20, channels=1)[..., 0] for i in range(6)])
    assert Pipeline(encoder="cae", n_clusters=2, **TINY).fit(images).codes_.shape == (6, TINY["code_size"])


@pytest.mark.slow
def test_an_encoder_object_is_cloned_and_fitted():
    encoder = ConvAutoencoder(image_size=8, code_size=4, filters=(4,), epochs=1, random_state=0)
    images = np.stack([smooth_image(i, 8, 8) for i in range(6)])
    pipeline = Pipeline(encoder=encoder, n_clusters=2).fit(images)
    assert pipeline.codes_.shape == (6, 4)
    assert not hasattr(encoder, "encoder_")


@pytest.mark.slow
def test_a_folder_with_broken_files_keeps_every_readable_one(mixed_folder):
    root, good, bad = mixed_folder
    with pytest.warns(SkippedImagesWarning, match=f"skipped {len(bad)} unreadable") as record:
        pipeline = Pipeline(encoder="cae", n_clusters=2, **TINY).fit(root)
    assert len(record) == 1
    assert set(pipeline.paths_) == good
    assert {path for path, _ in pipeline.skipped_} == bad
    assert len(pipeline.codes_) == len(good)


def test_a_bad_single_image_names_the_file(fitted, mixed_folder, tmp_path):
    root, _, _ = mixed_folder
    for method in (fitted.transform, fitted.predict, lambda x: fitted.query(x), lambda x: fitted.similarity(x, x)):
        with pytest.raises(ValueError, match="garbage.jpg"):
            method(str(root / "garbage.jpg"))
        with pytest.raises(OSError, match="absent.png"):
            method(str(tmp_path / "absent.png"))


@pytest.mark.parametrize("n", [0, -3])
def test_query_rejects_non_positive_n(fitted, data_dir, n):
    with pytest.raises(ValueError, match="n must be"):
        fitted.query(data_dir / "coffee.jpg", n=n)


def test_query_rejects_a_batch_or_folder(fitted, data_dir):
    with pytest.raises(ValueError, match="one image"):
        fitted.query(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="folder"):
        fitted.query(data_dir)


@pytest.mark.parametrize(
    "params, X, message",
    [
        ({"n_clusters": 50}, "data", "larger than the number of images"),
        ({"metric": "l1"}, "data", "metric"),
        ({"clustering": "dbscan"}, "data", "clustering"),
        ({"n_clusters": "some"}, "data", "'auto' or an int"),
        ({"encoder": "nope"}, "data", "unknown encoder 'nope'"),
        ({"image_size": 0}, "data", "image_size"),
        ({"cluster_sample_size": 0}, "data", "cluster_sample_size"),
        ({"index": "annoy"}, "data", "index must be one of"),
        ({}, np.zeros((3, 8, 8, 5), np.uint8), "shape"),
        ({}, np.full((3, 8, 8), np.nan), "NaN"),
        ({}, np.zeros((3, 8, 8), np.complex64), "dtype"),
    ],
)
def test_bad_arguments_say_what_was_expected(data_dir, params, X, message):
    X = data_dir if isinstance(X, str) else X
    with pytest.raises(ValueError, match=message):
        Pipeline(**{"encoder": "cae", **TINY, **params}).fit(X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"encoder": "efficientnet_lite0", "code_size": 7}, "code_size=7 does not apply to encoder 'efficientnet_lite0'"),
        ({"encoder": "phash", "epochs": 3, "batch_size": 4}, "epochs=3, batch_size=4 does not apply to encoder 'phash'"),
        ({"encoder": "contrastive", "image_size": 64}, "image_size=64 does not apply to encoder 'contrastive'"),
        ({"encoder": ["phash", "dhash"], "code_size": 8}, "code_size=8 does not apply to an encoder given as a list"),
        ({"encoder": PHash(), "epochs": 2}, "epochs=2 does not apply to an encoder given as an object"),
    ],
)
def test_a_setting_the_encoder_does_not_take_is_refused(data_dir, params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Pipeline(n_clusters=2, **params).fit(data_dir)


@pytest.mark.slow
def test_a_setting_auto_cannot_use_is_ignored_with_a_warning(data_dir):
    photos = [data_dir / "coffee.jpg", data_dir / "rocket.jpg"]
    with pytest.warns(UserWarning, match=f"code_size=4, epochs=2 is ignored: encoder='auto' chose '{DEFAULT_ENCODER}'"):
        pipeline = Pipeline(n_clusters=2, code_size=4, epochs=2).fit(photos)
    assert (pipeline.encoder_.layer, pipeline.codes_.shape) == ("pool", (2, 1280))


def test_an_empty_or_unreadable_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        Pipeline(encoder="cae", **TINY).fit(tmp_path)
    (tmp_path / "bad.png").write_text("nope")
    with warnings.catch_warnings(), pytest.raises(ValueError, match="none of the 1 images could be read"):
        Pipeline(encoder="cae", **TINY).fit(tmp_path)


def test_using_an_unfitted_pipeline_raises(data_dir):
    for call in (lambda p: p.transform(data_dir), lambda p: p.query(data_dir / "coffee.jpg"), lambda p: p.predict(data_dir)):
        with pytest.raises(NotFittedError):
            call(Pipeline())


@pytest.mark.slow
def test_an_encoder_that_does_not_learn_streams_and_skips_broken_files(mixed_folder):
    root, good, bad = mixed_folder
    with pytest.warns(SkippedImagesWarning):
        pipeline = Pipeline(encoder="efficientnet_lite0", n_clusters=2).fit(root)
    assert set(pipeline.paths_) == good and {p for p, _ in pipeline.skipped_} == bad
    np.testing.assert_allclose(pipeline.transform(pipeline.paths_), pipeline.codes_, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("side, expected", [(1, 16), (8, 16), (28, 32), (32, 32), (33, 40), (256, 64), (4000, 64)])
def test_auto_image_size_rounds_up_to_a_multiple_of_8_within_16_to_64(side, expected):
    from cae_sim.defaults import auto_image_size

    assert auto_image_size(side) == expected


@pytest.mark.slow
def test_the_autoencoder_works_at_the_images_own_scale(data_dir):
    small = np.stack([smooth_image(i, 28, 28) for i in range(8)])
    assert Pipeline(encoder="cae", n_clusters=2, epochs=1).fit(small).encoder_.image_size == 32
    photos = Pipeline(encoder="cae", n_clusters=2, epochs=1).fit([data_dir / "coffee.jpg", data_dir / "rocket.jpg", data_dir / "camera.jpg"])
    assert photos.encoder_.image_size == 64  # 171-256 px photos


@pytest.mark.slow
def test_image_size_with_auto_is_ignored_with_a_warning_when_a_pretrained_cnn_is_chosen(data_dir):
    with pytest.warns(UserWarning, match="image_size=32 is ignored"):
        pipeline = Pipeline(n_clusters=2, image_size=32).fit([data_dir / "coffee.jpg", data_dir / "rocket.jpg"])
    assert (pipeline.encoder_.name, pipeline.encoder_.input_size) == (DEFAULT_ENCODER, None)


def test_ensemble_by_name_says_to_list_its_members_and_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match=r"encoder=\['efficientnet_lite0', 'mobilenet_v2'\]"):
        Pipeline(encoder="ensemble").fit(np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="choose one of: auto, cae, contrastive, .*efficientnet_lite0, .*phash") as error:
        Pipeline(encoder="nope").fit(np.zeros((4, 8, 8), np.uint8))
    assert "ensemble" not in str(error.value) and "Encoder object" not in str(error.value)


def test_no_readable_file_names_the_first_failure_without_python_tuples(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"first failure: .*empty\.jpg: ") as error:
        Pipeline(encoder="cae", **TINY).fit([str(tmp_path / "empty.jpg")])
    assert "('" not in str(error.value)


@pytest.mark.parametrize("saved, asked", [(0, 1), (1, 0)])
def test_set_params_verbose_reaches_a_loaded_model(tmp_path, data_dir, saved, asked):
    Pipeline(encoder="phash", n_clusters=2, verbose=saved, random_state=0).fit(data_dir).save(tmp_path / "m")
    loaded = Pipeline.load(tmp_path / "m")
    assert loaded.model_.verbose == saved
    assert loaded.set_params(verbose=asked) is loaded
    assert loaded.verbose == loaded.model_.verbose == asked
    assert Pipeline(verbose=saved).set_params(verbose=asked).verbose == asked  # unfitted: no model_ to tell
