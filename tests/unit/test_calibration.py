"""The near-duplicate calibration: the threshold rule on scores, the copies, and a fit on a collection with known copies."""

import json
import os

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cae_sim import Pipeline
from cae_sim.calibration import COPY_KINDS, MARGIN, Calibration, calibrate, make_copy, make_copies, sample_positions
from cae_sim.duplicates import DEFAULT_THRESHOLD
from conftest import smooth_image, write_image

scores = st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=1, max_size=40)
targets = st.floats(0.5, 1.0)


def estimated(copies, others, threshold):
    """Precision and recall of the links at ``threshold``, computed from scratch."""
    copies, others = np.asarray(copies), np.asarray(others)
    true, false = (copies >= threshold).mean(), (others >= threshold).mean()
    return (1.0 if true + false == 0 else true / (true + false)), true


others_below_one = st.lists(st.floats(-1, 0.99, allow_nan=False), min_size=1, max_size=40)


@given(scores, others_below_one, targets)
def test_the_threshold_reaches_the_target_from_there_on(copies, others, target):
    calibration = calibrate(copies, others, target)
    precision, recall = estimated(copies, others, calibration.threshold)
    assert calibration.precision == pytest.approx(precision) and calibration.recall == pytest.approx(recall)
    assert precision >= target
    for higher in sorted(set(copies) | set(others)):
        if higher >= calibration.threshold:
            assert estimated(copies, others, higher)[0] >= target


@given(scores, others_below_one, targets)
def test_no_lower_score_would_do(copies, others, target):
    """The threshold is the lowest from which precision stays at the target: the candidate just below it fails."""
    calibration = calibrate(copies, others, target)
    candidates = set(copies) | set(others) | {max(others) + MARGIN}
    lower = [s for s in candidates if s < calibration.threshold]
    if lower:
        assert estimated(copies, others, max(lower))[0] < target


def test_other_images_scoring_one_cap_the_threshold_at_one():
    calibration = calibrate([0.9, 1.0], [1.0, 0.5], 0.98)
    assert calibration.threshold == 1.0


def test_separated_scores_give_a_threshold_between_them_with_full_recall():
    calibration = calibrate(np.linspace(0.9, 1.0, 50), np.linspace(0.2, 0.8, 50), 0.99)
    assert 0.8 < calibration.threshold <= 0.9
    assert calibration.recall == 1.0 and calibration.precision == 1.0
    assert calibration.similar == pytest.approx(0.5)
    assert calibration.describe(0.95) == "copy" and calibration.describe(0.6) == "similar" and calibration.describe(0.3) == ""


def test_overlapping_scores_trade_recall_for_precision():
    copies = np.linspace(0.5, 1.0, 100)
    others = np.linspace(0.0, 0.7, 100)
    strict, loose = calibrate(copies, others, 0.99), calibrate(copies, others, 0.7)
    assert strict.threshold > loose.threshold and strict.recall < loose.recall
    assert strict.precision >= 0.99 and loose.precision >= 0.7


def test_calibration_curve_is_monotone_in_recall_and_round_trips_through_json():
    calibration = calibrate(np.linspace(0.6, 1.0, 30), np.linspace(0.1, 0.8, 30))
    curve = calibration.curve
    assert len(curve["threshold"]) == len(curve["precision"]) == len(curve["recall"])
    assert np.all(np.diff(curve["recall"]) <= 0)
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again == calibration


@pytest.mark.parametrize(
    "copies, others, target, message",
    [
        ([], [0.5], 0.98, "copy_scores"),
        ([0.9], [], 0.98, "other_scores"),
        ([0.9, np.nan], [0.5], 0.98, "copy_scores"),
        ([[0.9]], [0.5], 0.98, "copy_scores"),
        ([0.9], [0.5], 0.0, "target precision"),
        ([0.9], [0.5], 1.5, "target precision"),
        ([0.9], [0.5], True, "target precision"),
    ],
)
def test_calibrate_rejects_bad_input_by_name(copies, others, target, message):
    with pytest.raises(ValueError, match=message):
        calibrate(copies, others, target)


def test_from_dict_names_a_missing_field():
    with pytest.raises(ValueError, match="threshold"):
        Calibration.from_dict({"precision": 1.0})


@pytest.mark.parametrize("kind", sorted(COPY_KINDS))
def test_each_copy_is_rgb_uint8_changed_and_seeded(kind):
    image = smooth_image(3, 60, 80)
    copy = make_copy(image, kind, np.random.default_rng(0))
    assert copy.dtype == np.uint8 and copy.ndim == 3 and copy.shape[2] == 3
    assert copy.shape != image.shape or not np.array_equal(copy, image)
    np.testing.assert_array_equal(copy, make_copy(image, kind, np.random.default_rng(0)))


def test_copy_shapes_follow_their_kind():
    image = smooth_image(1, 60, 80)
    rng = np.random.default_rng(0)
    assert make_copy(image, "half_size", rng).shape == (30, 40, 3)
    assert make_copy(image, "crop80", rng).shape == (48, 64, 3)
    assert make_copy(image, "jpeg30", rng).shape == image.shape


def test_make_copy_rejects_an_unknown_kind_and_a_gray_image():
    with pytest.raises(ValueError, match="'sepia'"):
        make_copy(smooth_image(0), "sepia", np.random.default_rng(0))
    with pytest.raises(ValueError, match="RGB uint8"):
        make_copy(smooth_image(0, channels=1)[..., 0], "blur", np.random.default_rng(0))


def test_make_copies_makes_every_kind_of_each_image_in_order():
    images = [smooth_image(seed, 40, 60) for seed in range(3)]
    copies = make_copies(images, random_state=0)
    assert len(copies) == 3 * len(COPY_KINDS)
    shapes = [make_copy(image, kind, np.random.default_rng(0)).shape for image in images for kind in COPY_KINDS]
    assert [copy.shape for copy in copies] == shapes
    assert all(np.array_equal(a, b) for a, b in zip(copies, make_copies(images, random_state=0)))


@given(st.integers(1, 500), st.integers(1, 300), st.integers(0, 10))
def test_sample_positions_are_distinct_sorted_and_bounded(n_images, sample, seed):
    positions = sample_positions(n_images, seed, sample)
    assert len(positions) == min(n_images, sample)
    assert np.all(np.diff(positions) > 0) and positions.min() >= 0 and positions.max() < n_images
    np.testing.assert_array_equal(positions, sample_positions(n_images, seed, sample))


# --------------------------------------------------------------------------- on a collection with known copies


@pytest.fixture(scope="module")
def photos_with_copies(tmp_path_factory, data_dir):
    """21 distinct photos (data/, scikit-image's and scikit-learn's), and for every other one a JPEG-q35, a half-size
    and a 90 % crop copy, as experiments/near_duplicates.py makes them; returns the folder and each file's photo."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = {path.stem: cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in sorted(data_dir.glob("*.jpg"))}
    photos |= {name: getattr(skimage.data, name)() for name in ("clock", "moon", "page", "text", "cell", "microaneurysms")}
    photos["motorcycle"] = skimage.data.stereo_motorcycle()[0]
    photos |= dict(zip(("china", "flower"), load_sample_images().images))
    folder, family = tmp_path_factory.mktemp("photos"), {}
    for number, (name, image) in enumerate(photos.items()):
        family[write_image(folder / f"{name}.png", image).name] = name
        if number % 2:
            continue
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, -1)
        height, width = rgb.shape[:2]
        _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 35])
        (folder / f"{name}_q35.jpg").write_bytes(jpeg.tobytes())
        half = cv2.resize(rgb, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        crop = rgb[height // 20 : height - height // 20, width // 20 : width - width // 20]
        for path in (folder / f"{name}_q35.jpg", write_image(folder / f"{name}_half.png", half), write_image(folder / f"{name}_crop.png", crop)):
            family[path.name] = name
    return folder, family


@pytest.mark.slow
def test_the_calibrated_threshold_finds_the_known_copies(photos_with_copies, tmp_path):
    """Few false links and most of the copies (on 11 families, the threshold sits above the closest distinct photos:
    precision 1.00, recall 0.86)."""
    folder, family = photos_with_copies
    pipeline = Pipeline(encoder="efficientnet_lite0", n_clusters=4, random_state=0).fit(folder)
    calibration = pipeline.calibration_
    assert calibration is not None and calibration.n_copies == len(COPY_KINDS) * len(pipeline.codes_)  # all sampled
    assert pipeline.duplicate_threshold == calibration.threshold
    names = [os.path.basename(path) for path in pipeline.paths_]
    true_pairs = {(i, j) for i in range(len(names)) for j in range(i + 1, len(names)) if family[names[i]] == family[names[j]]}
    found = {(i, j) for group in pipeline.duplicates() for i in group for j in group if i < j}
    precision = len(found & true_pairs) / max(1, len(found))
    recall = len(found & true_pairs) / len(true_pairs)
    assert precision >= 0.95 and recall >= 0.8, (precision, recall, calibration.threshold)

    pipeline.save(tmp_path / "model")
    loaded = Pipeline.load(tmp_path / "model")
    assert loaded.calibration_ == calibration
    assert loaded.duplicates() == pipeline.duplicates()


def test_a_save_without_calibration_falls_back_to_the_fixed_threshold(tmp_path):
    images = np.stack([smooth_image(seed) for seed in range(6)])
    pipeline = Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(images)
    assert pipeline.calibration_ is not None
    pipeline.save(tmp_path / "m")
    manifest_path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["collection"]["calibration"] = None  # as saves made before calibration (migrated from format 1)
    manifest_path.write_text(json.dumps(manifest))
    loaded = Pipeline.load(tmp_path / "m")
    assert loaded.calibration_ is None and loaded.duplicate_threshold == DEFAULT_THRESHOLD
    assert loaded.describe_score(1.0) == ""


def test_a_mangled_calibration_in_a_save_is_a_damaged_save(tmp_path):
    images = np.stack([smooth_image(seed) for seed in range(6)])
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(images).save(tmp_path / "m")
    manifest_path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["collection"]["calibration"] = {"threshold": "high"}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="damaged save"):
        Pipeline.load(tmp_path / "m")


def test_identical_images_only_give_no_calibration():
    images = np.stack([smooth_image(0)] * 4)
    pipeline = Pipeline(encoder="phash", n_clusters=1, random_state=0).fit(images)
    assert pipeline.calibration_ is None and pipeline.duplicate_threshold == DEFAULT_THRESHOLD


@pytest.mark.parametrize("bad", [0, 1.5, "high", None])
def test_pipeline_rejects_a_bad_duplicate_precision(bad):
    with pytest.raises(ValueError, match="target precision"):
        Pipeline(encoder="phash", duplicate_precision=bad).fit(np.stack([smooth_image(s) for s in range(4)]))


@pytest.mark.parametrize("verbose", [0, 1])
def test_a_verbose_fit_shows_the_calibration_copies_being_encoded_and_a_quiet_one_nothing(verbose, capsys):
    images = np.stack([smooth_image(seed) for seed in range(6)])
    pipeline = Pipeline(encoder="phash", n_clusters=2, random_state=0, verbose=verbose).fit(images)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("calibrating ")]
    copies = pipeline.calibration_.n_copies
    assert [line.split()[1] for line in lines] == ([f"{copies}/{copies}"] if verbose else [])
