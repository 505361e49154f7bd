"""cae_sim.plots: the tile grid and the image writer."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cae_sim.plots import tile_grid, write_image

sides = st.integers(1, 12)
gaps = st.integers(0, 6)
colours = st.tuples(*[st.integers(0, 255)] * 3)


@st.composite
def layouts(draw):
    """Row lengths (at least one image), columns (None or at least the longest row), tile and gap."""
    lengths = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4).filter(any))
    columns = draw(st.none() | st.integers(max(lengths), 6))
    return lengths, columns, draw(sides), draw(gaps)


def cell(canvas: np.ndarray, r: int, c: int, tile: int, gap: int) -> np.ndarray:
    top, left = r * (tile + gap) + gap // 2, c * (tile + gap) + gap // 2
    return canvas[top : top + tile, left : left + tile]


@given(layouts(), st.data())
def test_each_constant_tile_fills_its_cell_and_the_rest_is_white(layout, data):
    lengths, columns, tile, gap = layout
    filled = [[data.draw(colours) for _ in range(n)] for n in lengths]
    sizes = st.tuples(st.integers(1, 9), st.integers(1, 9))
    rows = [[np.full((*data.draw(sizes), 3), colour, np.uint8) for colour in row] for row in filled]

    canvas = tile_grid(rows, columns, tile=tile, gap=gap)

    width = max(lengths) if columns is None else columns
    assert canvas.shape == (len(lengths) * (tile + gap), width * (tile + gap), 3) and canvas.dtype == np.uint8
    covered = np.zeros(canvas.shape[:2], bool)
    for r, row in enumerate(filled):
        for c, colour in enumerate(row):
            assert (cell(canvas, r, c, tile, gap) == colour).all()
            cell(covered, r, c, tile, gap)[...] = True
    assert (canvas[~covered] == 255).all()


@given(sides, gaps)
def test_an_rgb_uint8_image_of_the_tile_size_is_copied_unchanged(tile, gap):
    image = np.random.default_rng(tile * 7 + gap).integers(0, 256, (tile, tile, 3), dtype=np.uint8)
    np.testing.assert_array_equal(cell(tile_grid([[image]], tile=tile, gap=gap), 0, 0, tile, gap), image)


@given(st.integers(1, 6), st.integers(1, 5), st.data())
def test_enlarging_by_a_whole_factor_repeats_each_pixel(side, factor, data):
    image = data.draw(arrays(np.uint8, (side, side, 3)))
    drawn = cell(tile_grid([[image]], tile=side * factor, gap=0), 0, 0, side * factor, 0)
    np.testing.assert_array_equal(drawn, image.repeat(factor, axis=0).repeat(factor, axis=1))


@given(sides, st.sampled_from([(), (1,)]), st.data())
def test_a_gray_image_becomes_three_equal_channels(tile, trailing, data):
    gray = data.draw(arrays(np.uint8, (tile, tile, *trailing)))
    drawn = cell(tile_grid([[gray]], tile=tile, gap=2), 0, 0, tile, 2)
    for channel in range(3):
        np.testing.assert_array_equal(drawn[..., channel], gray.reshape(tile, tile))


@given(sides, st.data())
def test_a_float_image_is_scaled_from_0_1_to_0_255(tile, data):
    image = data.draw(arrays(np.float32, (tile, tile, 3), elements=st.floats(-0.5, 1.5, width=32)))
    drawn = cell(tile_grid([[image]], tile=tile, gap=0), 0, 0, tile, 0)
    np.testing.assert_array_equal(drawn, np.rint(np.clip(image, 0, 1) * 255))


@pytest.mark.parametrize(
    "rows, columns, message",
    [
        ([[np.zeros((2, 2))] * 3], 2, "3 images, more than columns=2"),
        ([[], []], None, "at least one image"),
        ([[np.zeros((2, 2, 4))]], None, r"gray \(H, W\) or RGB"),
    ],
)
def test_bad_grids_are_refused(rows, columns, message):
    with pytest.raises(ValueError, match=message):
        tile_grid(rows, columns)


@given(st.integers(1, 16), st.integers(1, 16), st.sampled_from(["grid.png", "grille_été.png", "grid.bmp"]), st.data())
def test_write_image_round_trips_through_cv2_imread(height, width, name, data):
    rgb = data.draw(arrays(np.uint8, (height, width, 3)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write_image(path, rgb)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(bgr[..., ::-1], rgb)


def test_a_path_without_extension_is_written_as_png(tmp_path):
    write_image(tmp_path / "grid", np.zeros((2, 3, 3), np.uint8))
    assert (tmp_path / "grid").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("name", ["missing/grid.png", "grid.unknown"])
def test_an_unwritable_path_raises_oserror_naming_it(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(OSError, match=re.escape(str(path))):
        write_image(path, np.zeros((2, 2, 3), np.uint8))
    assert not path.exists()


@pytest.mark.parametrize("image", [np.zeros((2, 2)), np.zeros((2, 2, 3), np.float32), np.zeros((2, 2, 4), np.uint8)])
def test_write_image_wants_rgb_uint8(tmp_path, image):
    with pytest.raises(ValueError, match=r"RGB uint8 image of shape \(H, W, 3\)"):
        write_image(tmp_path / "x.png", image)


def test_plots_is_reachable_from_cae_sim_without_tensorflow():
    code = "import sys, cae_sim; cae_sim.plots.tile_grid; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
