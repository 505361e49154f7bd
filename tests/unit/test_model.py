"""The Model on its own (encoder + clustering, a scikit-learn estimator) and the Pipeline's use of it."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from cae_sim import Model, Pipeline, SkippedImagesWarning
from conftest import smooth_image

IMAGES = np.stack([smooth_image(i, 24, 24) for i in range(12)])


def test_init_only_stores_and_fit_returns_self_with_fitted_state():
    model = Model(encoder="dhash", n_clusters=3, random_state=0)
    assert clone(model).get_params() == model.get_params() and not [k for k in vars(model) if k.endswith("_")]
    assert model.fit(IMAGES) is model
    assert model.n_clusters_ == 3 and model.cluster_centers_.shape[0] == 3 and model.encoder_.name == "dhash"
    assert model.choices_ == {"encoder": "dhash", "clustering": "kmeans", "image_size": model.encoder_.image_size}


def test_a_model_used_before_fit_says_so():
    for use in (lambda m: m.transform(IMAGES), lambda m: m.predict(IMAGES), lambda m: m.predict_codes(np.ones((1, 64)))):
        with pytest.raises(NotFittedError):
            use(Model(encoder="dhash"))


def test_fit_encode_returns_the_codes_transform_gives_and_the_clusters_predict_gives():
    model = Model(encoder="dhash", n_clusters=3, random_state=0)
    encoded, labels = model.fit_encode(IMAGES)
    assert encoded.codes.dtype == np.float32 and encoded.paths is None and encoded.kept == list(range(12))
    np.testing.assert_array_equal(encoded.codes, model.transform(IMAGES))
    np.testing.assert_array_equal(labels, model.predict(IMAGES))


def test_encode_readable_keeps_every_readable_file_and_names_the_others(mixed_folder):
    folder, good, bad = mixed_folder
    model = Model(encoder="dhash", n_clusters=2, random_state=0)
    with pytest.warns(SkippedImagesWarning):
        model.fit(folder)
    with pytest.raises(ValueError):
        model.transform(folder)  # every file must be readable
    encoded = model.encode_readable(folder)
    assert set(encoded.paths) == good and {path for path, _ in encoded.skipped} == bad
    assert len(encoded.codes) == len(good)


def test_every_model_parameter_is_a_pipeline_parameter_with_the_same_default():
    model, pipeline = Model(), Pipeline()
    assert model.get_params().items() <= pipeline.get_params().items()
    assert pipeline.make_model().get_params() == model.get_params()


def test_a_pipeline_fitted_on_a_sample_trains_on_it_and_adds_the_others(tmp_path):
    pipeline = Pipeline(encoder="dhash", n_clusters=2, sample_size=5, random_state=3).fit(IMAGES)
    assert len(pipeline.clustering_.labels_) == 5 and len(pipeline.codes_) == 12
    again = Pipeline(encoder="dhash", n_clusters=2, sample_size=5, random_state=3).fit(IMAGES)
    np.testing.assert_array_equal(again.codes_, pipeline.codes_)
    np.testing.assert_array_equal(np.sort(pipeline.codes_, axis=0), np.sort(pipeline.transform(IMAGES), axis=0))
    np.testing.assert_array_equal(pipeline.labels_, pipeline.model_.predict_codes(pipeline.codes_))
    with pytest.raises(ValueError, match="sample_size"):
        Pipeline(encoder="dhash", sample_size=0).fit(IMAGES)


def test_add_and_remove_leave_the_model_as_it_was_fitted():
    pipeline = Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(IMAGES[:6])
    trained = pipeline.clustering_.labels_.copy()
    pipeline.add(IMAGES[6:])
    pipeline.remove([0, 1])
    np.testing.assert_array_equal(pipeline.clustering_.labels_, trained)
    assert len(pipeline.labels_) == 10 and len(pipeline.collection_) == 10
