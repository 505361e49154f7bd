"""Quality smoke test on real photos: the default encoder tells the 4 textures from the 5 objects, which raw pixels do not."""

import numpy as np
import pytest

from cae_sim import Pipeline
from cae_sim.images import iter_batches
from conftest import OBJECTS, TEXTURES, nearest_neighbour_agreement

@pytest.fixture(scope="module")
def photos(data_dir):
    return [str(data_dir / name) for name in TEXTURES + OBJECTS], np.array([0] * len(TEXTURES) + [1] * len(OBJECTS))


@pytest.mark.slow
def test_the_default_encoder_groups_textures_apart_from_objects_where_raw_pixels_do_not(photos):
    paths, groups = photos
    pipeline = Pipeline(n_clusters=2, random_state=0).fit(paths)
    pixels = next(iter(iter_batches(paths, 64, batch_size=len(paths)))).pixels.reshape(len(paths), -1).astype(np.float32)
    pixels -= pixels.mean(axis=0)  # cosine of centred pixels: correlation, the fair raw baseline
    # measured with the default (efficientnet_lite0 pooled features, K-Means): every photo's nearest neighbour is of
    # its kind (9 of 9) and the two clusters are exactly textures and objects; raw pixels get 5 of 9, a coin toss for
    # two groups of 4 and 5. A default that lost one of the 9, or split a kind, would be a regression worth a look.
    assert pipeline.choices_["encoder"] == "efficientnet_lite0"
    assert nearest_neighbour_agreement(pipeline.codes_, groups) == 1.0
    assert len(set(zip(pipeline.labels_, groups))) == 2  # one cluster per kind
    assert nearest_neighbour_agreement(pixels, groups) <= 5 / 9
