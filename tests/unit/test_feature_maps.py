import cv2
import numpy as np
import pytest

from cae_sim.encoders import PretrainedEncoder
from cae_sim.feature_maps import feature_maps, save_feature_grid

LAYERS = ["conv_stem", "blocks_2_project_conv", "conv_head"]


@pytest.fixture(scope="module")
def encoder():
    return PretrainedEncoder().fit()


@pytest.mark.slow
def test_each_layer_gives_its_activations(encoder, data_dir):
    maps = feature_maps(encoder, data_dir / "chelsea.jpg", LAYERS)
    assert list(maps) == LAYERS
    assert maps["conv_stem"].shape == (112, 112, 32)
    assert maps["blocks_2_project_conv"].shape == (56, 56, 24)
    assert maps["conv_head"].shape == (7, 7, 1280)
    assert all(m.dtype == np.float32 for m in maps.values())


@pytest.mark.slow
def test_the_last_layer_agrees_with_the_pooled_code(encoder, data_dir):
    from cae_sim import read_image

    head = feature_maps(encoder, data_dir / "coffee.jpg", ["bn1"])["bn1"]  # the head's batch norm
    pooled = np.clip(head, 0, 6).mean(axis=(0, 1))  # then its ReLU6 and the global average pooling
    code = encoder.encode(read_image(data_dir / "coffee.jpg", 224)[None])[0]
    np.testing.assert_allclose(code, pooled, rtol=1e-4, atol=1e-4)


def test_grid_has_one_tile_per_channel(tmp_path):
    maps = np.random.default_rng(0).random((5, 7, 10)).astype(np.float32)
    save_feature_grid(maps, tmp_path / "grid.png", tile=8)
    grid = cv2.imread(str(tmp_path / "grid.png"), cv2.IMREAD_GRAYSCALE)
    assert grid.shape == (3 * 10, 4 * 10)  # 10 channels → 4 columns × 3 rows of (8 + 2)-px tiles


@pytest.mark.parametrize("n_channels", [1, 5, 17])
def test_each_channel_is_scaled_to_its_own_0_255_in_its_cell(tmp_path, n_channels):
    rng = np.random.default_rng(n_channels)
    ramps = rng.permutation(36).reshape(6, 6, 1).astype(np.float32)  # no channel is constant
    maps = ramps * 10.0 ** rng.uniform(-3, 3, n_channels) + rng.uniform(-100, 100, n_channels)
    save_feature_grid(maps, tmp_path / "grid.png", tile=6)
    grid = cv2.imread(str(tmp_path / "grid.png"), cv2.IMREAD_GRAYSCALE)
    columns = int(np.ceil(np.sqrt(n_channels)))
    for channel in range(n_channels):
        r, c = divmod(channel, columns)
        cell = grid[r * 8 + 1 : r * 8 + 7, c * 8 + 1 : c * 8 + 7]  # 6-px tiles, 2 px apart
        assert (cell.min(), cell.max()) == (0, 255)
        np.testing.assert_array_equal(np.argsort(cell, axis=None, kind="stable"), np.argsort(ramps, axis=None, kind="stable"))


@pytest.mark.parametrize(
    "layers, message",
    [(["nope"], "no layer 'nope' .*feature maps: .*conv_stem"), (["fc"], "no spatial output"), ([], "non-empty")],
)
def test_bad_layers_are_named(encoder, data_dir, layers, message):
    with pytest.raises(ValueError, match=message):
        feature_maps(encoder, data_dir / "coffee.jpg", layers)


def test_grid_rejects_non_3d_input(tmp_path):
    with pytest.raises(ValueError, match="height, width, channels"):
        save_feature_grid(np.zeros((4, 4)), tmp_path / "g.png")


def test_grid_given_the_whole_dict_says_which_entry_to_pass(tmp_path):
    with pytest.raises(ValueError, match=r"pass e.g. maps\['block1_pool'\]") as error:
        save_feature_grid({"block1_pool": np.zeros((4, 4, 2))}, tmp_path / "g.png")
    assert "0." not in str(error.value)  # no array dumped into the message
