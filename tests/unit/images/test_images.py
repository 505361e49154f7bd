import os
import threading
import time

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cae_sim.images import (
    ImageReadError,
    decode_image,
    find_images,
    iter_batches,
    read_image,
    resize,
    resolve_source,
    to_rgb_uint8,
)
from conftest import smooth_image, write_image


def image_arrays():
    """Any uint8/uint16 image: gray (H, W), or (H, W, C) with C in 1, 3, 4."""
    shapes = st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([None, 1, 3, 4]))
    return st.tuples(shapes, st.sampled_from([np.uint8, np.uint16])).flatmap(
        lambda args: arrays(args[1], args[0][:2] if args[0][2] is None else args[0])
    )


@given(image_arrays())
def test_any_array_reads_to_rgb_float_in_unit_range(image):
    out = read_image(image)
    assert out.shape == (*image.shape[:2], 3)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


@given(image_arrays(), st.integers(1, 20))
def test_any_array_resizes_to_the_square_asked(image, size):
    assert read_image(image, size=size).shape == (size, size, 3)


@given(image_arrays())
def test_png_file_round_trip_keeps_rgb_order_and_scale(tmp_path_factory, image):
    path = write_image(tmp_path_factory.mktemp("png") / "x.png", image)
    expected = to_rgb_uint8(image).astype(np.float32) / 255
    np.testing.assert_allclose(read_image(path), expected, atol=1 / 255 + 1e-6)


def test_channels_are_rgb_not_bgr(tmp_path):
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    out = read_image(write_image(tmp_path / "red.png", red))
    assert out[..., 0].min() == 1.0 and out[..., 1:].max() == 0.0


def test_sixteen_bit_maps_to_eight_bit_scale():
    image = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    assert to_rgb_uint8(image)[0, :, 0].tolist() == [0, 128, 255]


def test_gray_alpha_and_float_inputs():
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert (to_rgb_uint8(gray) == gray[..., None]).all()
    rgba = np.dstack([np.full((2, 2, 3), 7, np.uint8), np.zeros((2, 2), np.uint8)])
    assert (to_rgb_uint8(rgba) == 7).all()
    assert to_rgb_uint8(np.ones((2, 2, 3), np.float64)).max() == 255


def test_find_images_recurses_follows_links_and_lists_directories(mixed_folder):
    root, good, bad = mixed_folder
    paths, skipped = find_images(root)
    assert paths == sorted(paths)
    assert good <= set(paths)
    assert not any(p.endswith("notes.txt") for p in paths)
    assert [p for p, _ in skipped] == [str(root / "folder.jpg")]


def test_find_images_survives_a_symlink_loop(tmp_path):
    write_image(tmp_path / "a.png", smooth_image(0))
    os.symlink(tmp_path, tmp_path / "loop")
    paths, _ = find_images(tmp_path)
    assert paths == [str(tmp_path / "a.png")]


def test_batches_keep_every_readable_file_and_explain_each_skip(mixed_folder):
    root, good, bad = mixed_folder
    items, _, skipped = resolve_source(root)
    batches = list(iter_batches(items, size=16, batch_size=4, n_jobs=2))
    kept = {items[i] for batch in batches for i in batch.positions}
    skipped += [entry for batch in batches for entry in batch.skipped]
    assert kept == good
    assert {path for path, _ in skipped} == bad
    reasons = dict(skipped)
    assert reasons[str(root / "empty.png")] == "empty file"
    assert "truncated" in reasons[str(root / "truncated.jpg")]
    assert "symbolic link" in reasons[str(root / "dangling.png")]
    assert all(batch.pixels.shape[1:] == (16, 16, 3) and batch.pixels.dtype == np.uint8 for batch in batches)


def test_batches_raise_naming_the_file_when_not_skipping(mixed_folder):
    root, _, _ = mixed_folder
    with pytest.raises(ValueError, match="text.png"):
        list(iter_batches([str(root / "color.png"), str(root / "text.png")], size=8, skip_errors=False))


def test_array_batches_cover_every_image_in_order():
    images = np.stack([smooth_image(i, 10, 12) for i in range(7)])
    batches = list(iter_batches(images, size=5, batch_size=3))
    assert np.concatenate([b.positions for b in batches]).tolist() == list(range(7))
    assert np.concatenate([b.pixels for b in batches]).shape == (7, 5, 5, 3)


def test_decode_rejects_empty_and_garbage_bytes():
    with pytest.raises(ImageReadError, match="empty"):
        decode_image(b"", 8)
    with pytest.raises(ImageReadError, match="not a decodable image"):
        decode_image(b"hello world", 8, name="hello.png")


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(OSError, match="nowhere.png"):
        read_image(tmp_path / "nowhere.png", 8)
    (tmp_path / "bad.jpg").write_bytes(b"junk")
    with pytest.raises(ValueError, match="bad.jpg"):
        read_image(tmp_path / "bad.jpg", 8)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((2, 4, 4, 2), np.uint8), "shape"),
        (np.zeros((4, 4), np.uint8), "shape"),
        (np.zeros((0, 4, 4, 3), np.uint8), "empty"),
        (np.zeros((2, 4, 4, 3), np.int32), "dtype"),
        (np.full((2, 4, 4, 3), np.nan, np.float32), "NaN"),
        (np.full((2, 4, 4, 3), 2.0, np.float32), r"\[0, 1\]"),
        ([], "empty"),
        (42, "folder"),
    ],
)
def test_resolve_source_rejects_bad_input(images, message):
    with pytest.raises(ValueError, match=message):
        resolve_source(images)


def test_resolve_source_rejects_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        resolve_source(tmp_path)
    with pytest.raises(OSError, match="missing"):
        resolve_source(tmp_path / "missing")


@pytest.mark.parametrize("size", [16, 40, 64, 120])
def test_reduced_jpeg_decoding_matches_full_decoding(data_dir, size):
    data = np.fromfile(data_dir / "astronaut.jpg", np.uint8)  # 256 × 256: decoded at 1/8 to 1/2 scale
    full = resize(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), size)
    reduced = decode_image(data, size)
    assert reduced.shape == full.shape == (size, size, 3)
    # two resampling paths differ by a few levels on fine detail; a wrong channel order, crop or scale by far more
    assert np.abs(reduced.astype(int) - full).mean() < 4.0


def test_typical_side_of_files_and_arrays(mixed_folder, tmp_path):
    from cae_sim.images import typical_side

    assert typical_side(np.zeros((3, 20, 30, 3), np.uint8)) == 20
    paths = [str(write_image(tmp_path / f"{i}.png", smooth_image(i, 24 + i, 40))) for i in range(5)]
    assert typical_side(paths) == 26
    root, _, _ = mixed_folder
    assert typical_side([str(root / "text.png"), str(root / "empty.png")]) == 0


def test_a_failure_while_decoding_ahead_reaches_the_caller_after_the_batches_before_it(mixed_folder):
    root, _, _ = mixed_folder
    good, bad = str(root / "color.png"), str(root / "text.png")
    batches = iter_batches([good] * 4 + [bad] + [good] * 3, size=8, batch_size=2, n_jobs=2, skip_errors=False)
    delivered = [next(batches), next(batches)]
    assert [batch.positions.tolist() for batch in delivered] == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="text.png"):
        next(batches)


def test_leaving_the_batches_early_stops_the_reading_thread(mixed_folder):
    root, _, _ = mixed_folder
    before = set(threading.enumerate())  # threads of earlier tests may end meanwhile: follow only the new ones
    batches = iter_batches([str(root / "color.png")] * 64, size=8, batch_size=2, n_jobs=2)
    next(batches)
    started = set(threading.enumerate()) - before
    assert started  # the reader decodes ahead in its own thread
    batches.close()
    deadline = time.monotonic() + 5
    while any(thread.is_alive() for thread in started) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(thread.is_alive() for thread in started)


@pytest.mark.parametrize("extension", [".png", ".tiff", ".webp", ".bmp"])
def test_halved_reads_of_other_formats_match_full_decoding(data_dir, extension, monkeypatch):
    monkeypatch.setattr("cae_sim.images.decoding.HALVED_READ_PIXELS", 0)  # as for an image of over 16 megapixels
    photo = cv2.resize(cv2.imread(str(data_dir / "astronaut.jpg")), (600, 600), interpolation=cv2.INTER_CUBIC)
    data = cv2.imencode(extension, photo)[1].ravel()
    full = resize(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), 224)
    halved = decode_image(data, 224)  # 600 // 2 >= 224: read at 300 × 300
    assert halved.shape == full.shape == (224, 224, 3)
    assert np.abs(halved.astype(int) - full).mean() < 1.0  # rounding only: a 1/4 read or a channel swap is far more
    whole = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(decode_image(data, 400), resize(whole, 400))  # 600 // 2 < 400: read whole
    monkeypatch.undo()
    assert np.array_equal(decode_image(data, 224), full)  # under HALVED_READ_PIXELS: read whole
