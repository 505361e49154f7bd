"""One contract for every registered encoder: what the pipeline and saves rely on.

(Every registered clustering has its own in test_clustering.py, with scikit-learn's estimator checks.)
"""

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from cae_sim.encoders import (
    ENCODERS, ContrastiveEncoder, ConvAutoencoder, DHash, Encoder, Ensemble, FeatureMapAutoencoder, PHash, PretrainedEncoder,
)
from conftest import smooth_image

#: A small, quick instance of each registered encoder class.
SMALL_ENCODERS = {
    ConvAutoencoder: lambda: ConvAutoencoder(image_size=16, code_size=4, filters=(4,), epochs=1, random_state=0),
    ContrastiveEncoder: lambda: ContrastiveEncoder(backbone=PHash(hash_size=4), views=2, width=8, code_size=4, epochs=2, random_state=0),
    Ensemble: lambda: Ensemble(encoders=[PHash(hash_size=4), DHash(hash_size=4)]),
    PHash: lambda: PHash(hash_size=4),
    DHash: lambda: DHash(hash_size=4),
    PretrainedEncoder: lambda: PretrainedEncoder(model="efficientnet_lite0", input_size=32),
    FeatureMapAutoencoder: lambda: FeatureMapAutoencoder(input_size=32, width=8, code_size=4, epochs=1, random_state=0),
}
#: Those that build an ImageNet CNN: seconds, not milliseconds.
BUILDS_A_CNN = (PretrainedEncoder, FeatureMapAutoencoder)


def test_every_registered_encoder_class_is_covered():
    assert set(ENCODERS.values()) == set(SMALL_ENCODERS)


@pytest.mark.parametrize(
    "cls", [pytest.param(cls, id=cls.__name__, marks=[pytest.mark.slow] if cls in BUILDS_A_CNN else []) for cls in SMALL_ENCODERS]
)
def test_an_encoder_fits_encodes_saves_and_loads_as_the_pipeline_expects(cls, tmp_path):
    encoder = SMALL_ENCODERS[cls]()
    assert isinstance(encoder, Encoder) and ENCODERS[encoder.name] is cls
    assert repr(clone(encoder)) == repr(encoder)  # __init__ only stores its parameters
    size = encoder.image_size
    images = np.stack([smooth_image(i, size, size) for i in range(6)])
    assert encoder.fit(images if encoder.learns_from_images else None) is encoder
    codes = encoder.encode(images)
    assert codes.dtype == np.float32 and codes.ndim == 2 and len(codes) == 6 and np.isfinite(codes).all()
    np.testing.assert_allclose(encoder.encode(images[:1]), codes[:1], rtol=1e-3, atol=1e-5)  # a row does not depend on its batch (up to float sums)
    encoder.save(Path(tmp_path))
    loaded = cls.load(Path(tmp_path), encoder.get_params(deep=False))
    np.testing.assert_allclose(loaded.encode(images), codes, rtol=1e-5, atol=1e-6)

