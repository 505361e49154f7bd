"""cae_sim.plots: the tile grid, the image writer, and the pictures of a fitted pipeline."""

import copy
import re
import string
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DATA, smooth_image
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from cae_sim import ManifoldClustering, Pipeline
from cae_sim.codes import l2_normalize
from cae_sim.images import read_file, resize
from cae_sim.plots import (
    CAPTION_HEIGHT,
    cluster_grid,
    code_map,
    map_coordinates,
    query_grid,
    reconstructions,
    tile_grid,
    write_image,
)

sides = st.integers(1, 12)
gaps = st.integers(0, 6)
colours = st.tuples(*[st.integers(0, 255)] * 3)


@st.composite
def layouts(draw):
    """Row lengths (at least one image), columns (None or at least the longest row), tile and gap."""
    lengths = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4).filter(any))
    columns = draw(st.none() | st.integers(max(lengths), 6))
    return lengths, columns, draw(sides), draw(gaps)


def cell(canvas: np.ndarray, r: int, c: int, tile: int, gap: int, band: int = 0) -> np.ndarray:
    """The tile of row ``r``, column ``c``; ``band`` is the caption band's height (0: no captions)."""
    top, left = r * (tile + band + gap) + gap // 2, c * (tile + gap) + gap // 2
    return canvas[top : top + tile, left : left + tile]


def caption(canvas: np.ndarray, r: int, c: int, tile: int, gap: int) -> np.ndarray:
    """The caption band under the tile of row ``r``, column ``c``."""
    top, left = r * (tile + CAPTION_HEIGHT + gap) + gap // 2 + tile, c * (tile + gap) + gap // 2
    return canvas[top : top + CAPTION_HEIGHT, left : left + tile]


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


@pytest.mark.slow
def test_plots_is_reachable_from_cae_sim_without_tensorflow():
    code = "import sys, cae_sim; cae_sim.plots.tile_grid; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@given(layouts(), st.data())
def test_captions_add_a_band_under_each_row_and_leave_the_tiles_as_they_were(layout, data):
    lengths, columns, tile, gap = layout
    rows = [[data.draw(arrays(np.uint8, (3, 3, 3))) for _ in range(n)] for n in lengths]
    captions = [[data.draw(st.text(string.ascii_letters + string.digits + ".-", max_size=6)) for _ in range(n)] for n in lengths]

    captioned = tile_grid(rows, columns, tile=tile, gap=gap, captions=captions)

    pitch = tile + CAPTION_HEIGHT + gap
    in_band = np.zeros(len(captioned), bool)
    for r in range(len(rows)):
        in_band[r * pitch + gap // 2 + tile :][:CAPTION_HEIGHT] = True
    np.testing.assert_array_equal(captioned[~in_band], tile_grid(rows, columns, tile=tile, gap=gap))
    outside = captioned.copy()
    for r, row in enumerate(captions):
        for c, text in enumerate(row):
            drawn = (caption(captioned, r, c, tile, gap) < 255).any()
            if not text:
                assert not drawn
            elif tile >= 8:  # smaller tiles shrink a caption to almost nothing
                assert drawn
            caption(outside, r, c, tile, gap)[...] = 255
    assert (outside[in_band] == 255).all()


def test_captions_must_match_the_rows():
    with pytest.raises(ValueError, match=re.escape("rows of [2] images, captions of [1]")):
        tile_grid([[np.zeros((2, 2))] * 2], captions=[["only one"]])


# ---------------------------------------------------------------- pictures of a fitted pipeline

#: Distinct 12 × 12 images, enlarged twice to TILE-pixel tiles (nearest neighbour) by the grids.
ARRAY = np.stack([smooth_image(seed, 12, 12) for seed in range(20)])
TILE = 24


def enlarged(image: np.ndarray, factor: int = 2) -> np.ndarray:
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


@pytest.fixture(scope="module")
def hashed():
    """A pipeline fitted on ARRAY in an instant (a hash learns nothing), so without paths_."""
    return Pipeline(encoder="dhash", n_clusters=3, random_state=0).fit(ARRAY)


@pytest.mark.parametrize("columns", [None, 2])
def test_query_grid_shows_the_query_then_its_matches_in_order_with_their_scores(hashed, columns):
    query = smooth_image(100, 12, 12)
    matches = hashed.query(query, 5)

    canvas = query_grid(hashed, query, n=5, images=ARRAY, columns=columns, tile=TILE, gap=2)

    width = columns or 6
    tiles = [query] + [ARRAY[match.index] for match in matches]
    texts = ["query"] + [f"{match.score:.3f}" for match in matches]
    for i, (image, text) in enumerate(zip(tiles, texts)):
        np.testing.assert_array_equal(cell(canvas, i // width, i % width, TILE, 2, CAPTION_HEIGHT), enlarged(image))
        alone = tile_grid([[image]], tile=TILE, gap=2, captions=[[text]])
        np.testing.assert_array_equal(caption(canvas, i // width, i % width, TILE, 2), caption(alone, 0, 0, TILE, 2))


def test_query_grid_reads_the_files_of_a_folder_pipeline_shrunk_by_area():
    pipeline = Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(DATA)
    query = pipeline.paths_[3]
    matches = pipeline.query(query, 4)

    canvas = query_grid(pipeline, query, n=4, tile=32)

    for c, path in enumerate([query] + [match.path for match in matches]):
        np.testing.assert_array_equal(cell(canvas, 0, c, 32, 4, CAPTION_HEIGHT), resize(read_file(path, None), 32))


@given(st.integers(1, 25), st.none() | st.integers(1, 8))
def test_a_query_grid_holds_the_query_and_every_match_in_rows_of_columns(hashed, n, columns):
    canvas = query_grid(hashed, ARRAY[0], n=n, images=ARRAY, columns=columns, tile=8, gap=2)

    tiles = min(n, len(ARRAY)) + 1
    width = min(columns or n + 1, n + 1)
    assert canvas.shape == (-(-tiles // width) * (8 + CAPTION_HEIGHT + 2), width * 10, 3) and canvas.dtype == np.uint8


@given(st.integers(1, 10), st.integers(1, 6))
def test_cluster_grid_shows_exactly_the_clusters_most_central_images_nearest_first(hashed, n, columns):
    distances = hashed.distance_to_center()
    for cluster in range(hashed.n_clusters_):
        members = np.flatnonzero(hashed.labels_ == cluster)
        central = members[np.argsort(distances[members], kind="stable")][:n]

        canvas = cluster_grid(hashed, cluster, n=n, images=ARRAY, columns=columns, tile=TILE, gap=2)

        width = min(columns, n)
        assert canvas.shape == (-(-len(central) // width) * (TILE + 2), width * (TILE + 2), 3)
        covered = np.zeros(canvas.shape[:2], bool)
        for i, member in enumerate(central):
            np.testing.assert_array_equal(cell(canvas, i // width, i % width, TILE, 2), enlarged(ARRAY[member]))
            cell(covered, i // width, i % width, TILE, 2)[...] = True
        assert (canvas[~covered] == 255).all()


def test_map_coordinates_are_the_principal_components_of_the_codes_as_kmeans_sees_them(hashed):
    coordinates = map_coordinates(hashed)
    assert coordinates.shape == (len(ARRAY), 2) and coordinates.dtype == np.float32
    np.testing.assert_allclose(coordinates, PCA(2).fit_transform(l2_normalize(hashed.codes_)), atol=1e-5)


def test_map_coordinates_are_the_same_for_the_pipeline_fitted_again(hashed):
    again = Pipeline(**hashed.get_params()).fit(ARRAY)
    np.testing.assert_array_equal(map_coordinates(again), map_coordinates(hashed))


def test_map_coordinates_of_a_manifold_clustering_come_from_its_embedding(hashed):
    pipeline = copy.deepcopy(hashed)
    embedding = np.random.default_rng(0).normal(size=(len(ARRAY), 3)).astype(np.float32)  # unrelated to the codes
    mixture = GaussianMixture(3, random_state=0).fit(embedding)
    state = {"fitted_codes": pipeline.codes_, "embedding": embedding}
    state |= {"weights": mixture.weights_, "means": mixture.means_, "covariances": mixture.covariances_}
    pipeline.model_.clustering_ = ManifoldClustering().restore(state, {})  # as if UMAP had embedded the codes, without its 20-s compile

    np.testing.assert_allclose(map_coordinates(pipeline), PCA(2).fit_transform(embedding), atol=1e-5)
    pipeline.add(smooth_image(200, 12, 12)[np.newaxis])
    assert map_coordinates(pipeline).shape == (len(ARRAY) + 1, 2)  # an added code is placed too


def test_code_map_draws_one_colour_per_cluster_over_the_whole_square(hashed):
    canvas = code_map(hashed, size=300, radius=1)

    assert canvas.shape == (300, 300, 3) and canvas.dtype == np.uint8
    drawn = (canvas != 255).any(axis=-1)
    assert drawn[0].any() and drawn[-1].any() and drawn[:, 0].any() and drawn[:, -1].any()
    assert len(np.unique(canvas[drawn], axis=0)) == hashed.n_clusters_
    x = map_coordinates(hashed)[:, 0]
    left, right = canvas[drawn[:, 0], 0][0], canvas[drawn[:, -1], -1][0]
    assert (left == right).all() == (hashed.labels_[x.argmin()] == hashed.labels_[x.argmax()])
    np.testing.assert_array_equal(code_map(hashed, size=300, radius=1), canvas)


@pytest.mark.slow
def test_reconstructions_put_the_autoencoders_reconstructions_under_what_it_sees(fitted):
    paths, tile = fitted.paths_[:3], 2 * fitted.encoder_.image_size
    seen = np.stack([read_file(path, fitted.encoder_.image_size) for path in paths])  # as fit reads them
    rebuilt = np.rint(fitted.encoder_.reconstruct(seen) * 255).astype(np.uint8)

    canvas = reconstructions(fitted, paths, tile=tile, gap=2)

    assert canvas.shape == (2 * (tile + 2), 3 * (tile + 2), 3)
    for c in range(3):
        np.testing.assert_array_equal(cell(canvas, 0, c, tile, 2), enlarged(seen[c]))
        np.testing.assert_array_equal(cell(canvas, 1, c, tile, 2), enlarged(rebuilt[c]))


@pytest.mark.parametrize("cluster, message", [(-1, "cluster must be an int >= 0, got -1"), (3, "cluster 3 is out of range"), (1.0, "got 1.0")])
def test_cluster_grid_refuses_a_cluster_the_pipeline_lacks(hashed, cluster, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cluster_grid(hashed, cluster, images=ARRAY)


def test_cluster_grid_refuses_a_cluster_whose_images_were_all_removed(hashed):
    pipeline = copy.deepcopy(hashed).remove(np.flatnonzero(hashed.labels_ == 0).tolist())
    with pytest.raises(ValueError, match="cluster 0 has no images"):
        cluster_grid(pipeline, 0, images=ARRAY[hashed.labels_ != 0])


GRIDS = {
    "query_grid": lambda pipeline, **options: query_grid(pipeline, ARRAY[0], **options),
    "cluster_grid": lambda pipeline, **options: cluster_grid(pipeline, 0, **options),
}


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize(
    "options, message",
    [
        ({"images": ARRAY, "n": 0}, "n must be an int >= 1, got 0"),
        ({"images": ARRAY, "columns": 0}, "columns must be an int >= 1, got 0"),
        ({}, "fitted on an array: pass that array as images="),
        ({"images": ARRAY[:-1]}, f"images= holds {len(ARRAY) - 1} images, but the pipeline holds {len(ARRAY)}"),
    ],
)
def test_the_grids_refuse_bad_options(hashed, grid, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        GRIDS[grid](hashed, **options)


def test_reconstructions_need_the_autoencoder(hashed):
    with pytest.raises(ValueError, match="the pipeline's encoder is 'dhash'"):
        reconstructions(hashed, ARRAY[:2])
