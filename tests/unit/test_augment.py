import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cae_sim import Augment
from cae_sim.augment import AUGMENTS, make_augment
from conftest import smooth_image

IMAGES = np.stack([smooth_image(i, 40, 40) for i in range(6)])

SINGLE_TRANSFORMS = [
    dict(crop=(0.3, 0.6)),
    dict(rotation=30),
    dict(shift=0.2),
    dict(shear=20),
    dict(zoom=0.3),
    dict(color=0.8),
    dict(grayscale=1.0),
    dict(blur=1.0),
    dict(downscale=(0.1, 0.3)),
    dict(jpeg=(5, 20)),
    dict(noise=0.1),
]


@given(seed=st.integers(0, 2**31 - 1), preset=st.sampled_from(AUGMENTS.names()))
def test_same_seed_gives_the_same_pixels_call_after_call(seed, preset):
    first, second = Augment.preset(preset, random_state=seed), Augment.preset(preset, random_state=seed)
    for _ in range(2):
        np.testing.assert_array_equal(first(IMAGES), second(IMAGES))


@given(
    n=st.integers(0, 4),
    height=st.integers(8, 48),
    width=st.integers(8, 48),
    preset=st.sampled_from(AUGMENTS.names()),
)
def test_dtype_and_shape_are_kept(n, height, width, preset):
    images = np.random.default_rng(0).integers(0, 256, (n, height, width, 3), dtype=np.uint8)
    out = Augment.preset(preset, random_state=0)(images)
    assert out.dtype == np.uint8 and out.shape == images.shape


@pytest.mark.parametrize("params", SINGLE_TRANSFORMS, ids=lambda p: next(iter(p)))
def test_each_transform_changes_every_image(params):
    images = np.random.default_rng(0).integers(0, 256, (6, 40, 40, 3), dtype=np.uint8)
    out = Augment(**params, random_state=0)(images)
    changed = np.abs(out.astype(int) - images).reshape(len(IMAGES), -1).max(axis=1) > 0
    # colour jitter touches 80% of the images; a blur of sigma < 0.4 leaves 8-bit pixels as they were
    assert changed.mean() >= (0.5 if {"color", "blur"} & set(params) else 1.0)


def test_flip_mirrors_about_half_of_the_images_exactly():
    images = np.stack([smooth_image(i, 16, 16) for i in range(64)])
    out = Augment(flip=True, random_state=0)(images)
    flipped = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, images)])
    assert (flipped | kept).all() and 16 < flipped.sum() < 48


def test_grayscale_gives_equal_channels_and_nothing_off_leaves_images_alone():
    gray = Augment(grayscale=1.0, random_state=0)(IMAGES)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    np.testing.assert_array_equal(Augment(random_state=0)(IMAGES), IMAGES)


def test_different_seeds_give_different_views():
    assert not np.array_equal(Augment.preset("simclr", random_state=0)(IMAGES), Augment.preset("simclr", random_state=1)(IMAGES))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(crop=(0.5, 0.2)), "crop"),
        (dict(crop=(0, 1)), "crop"),
        (dict(crop=0.5), "crop"),
        (dict(rotation=-1), "rotation"),
        (dict(shift=2), "shift"),
        (dict(grayscale=1.5), "grayscale"),
        (dict(jpeg=(0, 50)), "jpeg"),
        (dict(downscale=(0, 0.5)), "downscale"),
        (dict(noise="lots"), "noise"),
        (dict(flip=1), "flip"),
        (dict(random_state=-1), "random_state"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        Augment(**params)(IMAGES)


@pytest.mark.parametrize("images", [IMAGES.astype(np.float32), IMAGES[0], IMAGES[..., :1], [IMAGES[0]]])
def test_only_uint8_rgb_batches_are_taken(images):
    with pytest.raises(ValueError, match="uint8 RGB images"):
        Augment(flip=True)(images)


def test_make_augment_takes_names_keywords_and_policies():
    assert make_augment(None) is None
    assert make_augment("degrade", 3).get_params() == Augment(**AUGMENTS["degrade"].keywords, random_state=3).get_params()
    assert make_augment({"blur": 0.5}, 7).get_params()["random_state"] == 7
    policy = Augment(noise=0.1, random_state=2)
    used = policy(IMAGES)
    copy = make_augment(policy)
    assert copy is not policy
    np.testing.assert_array_equal(copy(IMAGES), used)  # a fresh generator, same seed
    with pytest.raises(ValueError, match="unknown augmentation preset 'nope'"):
        make_augment("nope")
    with pytest.raises(ValueError, match="keywords"):
        make_augment({"sharpen": 1})
    with pytest.raises(ValueError, match="augment must be"):
        make_augment(3)
