import itertools

import cv2
import numpy as np
import pytest
import scipy.fft
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from cae_sim import DHash, PHash, Pipeline, read_image
from cae_sim.encoders import ENCODERS, encoder_class

HASHES = [PHash, DHash]
#: Most bits a JPEG re-compression at quality 30 may flip (of 64).
RECOMPRESSED_BITS = 6


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.count_nonzero((a > 0) != (b > 0), axis=-1)


def recompress(source, target, quality: int = 30):
    image = cv2.imdecode(np.fromfile(str(source), np.uint8), cv2.IMREAD_COLOR)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    encoded.tofile(str(target))
    return target


@pytest.fixture(scope="module")
def photos(data_dir, tmp_path_factory):
    """Paths of the sample photos, of their quality-30 re-compressions, and both read at 64 px."""
    folder = tmp_path_factory.mktemp("recompressed")
    paths = sorted(data_dir.glob("*.jpg"))
    copies = [recompress(path, folder / path.name) for path in paths]
    original = np.stack([read_image(path, 64) for path in paths])
    recompressed = np.stack([read_image(path, 64) for path in copies])
    return paths, copies, original, recompressed


# ---------------------------------------------------------------- on real photos


@pytest.mark.parametrize("cls", HASHES)
def test_recompressed_photos_keep_their_hash_and_different_photos_differ(cls, photos):
    _, _, original, recompressed = photos
    encoder = cls().fit()
    codes = encoder.encode(original)
    assert (hamming(codes, encoder.encode(recompressed)) <= RECOMPRESSED_BITS).all()
    pairs = np.array([hamming(codes[i], codes[j]) for i, j in itertools.combinations(range(len(codes)), 2)])
    assert len(pairs) == 66
    # no photo comes near another one (twice the re-compression bound), and a typical pair is far apart
    assert pairs.min() > 2 * RECOMPRESSED_BITS
    assert (pairs >= 16).mean() > 0.95
    assert np.median(pairs) >= 24


@pytest.mark.parametrize("cls", HASHES)
def test_uint8_and_float_images_hash_alike(cls, photos):
    pixels = np.rint(photos[2] * 255).astype(np.uint8)
    encoder = cls().fit()
    np.testing.assert_array_equal(encoder.encode(pixels), encoder.encode(pixels / np.float32(255)))


# ---------------------------------------------------------------- the definitions


def reference_phash(gray32: np.ndarray, hash_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """pHash of a 32×32 gray image in numpy/scipy: bits, and the distance of each coefficient to the median."""
    block = scipy.fft.dctn(gray32.astype(np.float64), norm="ortho")[:hash_size, :hash_size].ravel()
    median = np.median(block[1:])
    return block > median, np.abs(block - median)


def as_rgb64(gray32: np.ndarray) -> np.ndarray:
    """One 64-px RGB image of equal channels, each pixel of gray32 a 2×2 block: it shrinks back to exactly gray32."""
    return np.repeat(np.repeat(gray32, 2, axis=0), 2, axis=1)[np.newaxis, ..., np.newaxis].repeat(3, axis=-1)


@given(seed=st.integers(0, 2**32 - 1))
def test_phash_matches_a_numpy_implementation(seed):
    gray32 = np.random.default_rng(seed).integers(0, 256, (32, 32), dtype=np.uint8)
    code = PHash().fit().encode(as_rgb64(gray32))[0]
    expected, margin = reference_phash(gray32)
    clear = margin > 1e-3  # float32 (cv2) and float64 (scipy) may disagree only on a near-tie
    assert clear.sum() >= 62
    np.testing.assert_array_equal(code[clear] > 0, expected[clear])


def test_phash_median_leaves_out_the_dc_term():
    # Black but for two bright pixels in the top-left corner: every coefficient of the 8×8 block is positive and
    # falls with frequency, those of the first row and column carry a 1/√2 factor, and the DC term (the mean) is the
    # smallest of all. So the median of the 63 others sets exactly 31 bits (with the DC term in the median, as in
    # imagehash, 32), none in the first row or column, lowest frequencies first.
    gray32 = np.zeros((32, 32), np.uint8)
    gray32[0, :2] = 255, 128
    bits = PHash().fit().encode(as_rgb64(gray32))[0] > 0
    np.testing.assert_array_equal(bits, reference_phash(gray32)[0])
    bits = bits.reshape(8, 8)
    assert bits.sum() == 31
    assert not bits[0].any() and not bits[:, 0].any()
    inner = bits[1:, 1:].astype(int)
    assert (np.diff(inner, axis=0) <= 0).all() and (np.diff(inner, axis=1) <= 0).all()


def test_phash_of_a_single_frequency():
    # one cosine of the DCT basis along x (frequency 3): among the 8×8 lowest frequencies only the DC and (0, 3)
    # terms are large; the median of the rest is about 0, so those two bits are set, and the negated cosine
    # clears (0, 3)
    x = np.arange(32)
    wave = np.cos(np.pi * (2 * x + 1) * 3 / 64)
    for sign in (1, -1):
        gray32 = np.rint(128 + sign * 100 * np.tile(wave, (32, 1))).astype(np.uint8)
        bits = PHash().fit().encode(as_rgb64(gray32))[0].reshape(8, 8) > 0
        assert bits[0, 0]
        assert bits[0, 3] == (sign > 0)


@pytest.mark.parametrize("decreasing", [True, False])
def test_dhash_compares_each_pixel_with_its_right_neighbour(decreasing):
    ramp = np.linspace(255, 0, 64) if decreasing else np.linspace(0, 255, 64)
    rgb = np.broadcast_to(np.rint(ramp).astype(np.uint8)[None, None, :, None], (1, 64, 64, 3))
    code = DHash().fit().encode(np.ascontiguousarray(rgb))
    np.testing.assert_array_equal(code, np.full((1, 64), 1.0 if decreasing else -1.0, np.float32))


@pytest.mark.parametrize("cls", HASHES)
@given(
    hash_size=st.integers(2, 12),
    n=st.integers(0, 3),
    as_float=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_codes_are_plus_minus_one_float32(cls, hash_size, n, as_float, seed):
    encoder = cls(hash_size=hash_size).fit()
    size = encoder.image_size
    images = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    codes = encoder.encode(images / np.float32(255) if as_float else images)
    assert codes.dtype == np.float32
    assert codes.shape == (n, hash_size**2) == (n, encoder.n_bits_)
    assert np.isin(codes, [-1.0, 1.0]).all()


def test_image_size_grows_with_the_hash_grid():
    assert PHash().image_size == DHash().image_size == 64
    assert PHash(hash_size=24).image_size == 96
    assert DHash(hash_size=64).image_size == 65


# ---------------------------------------------------------------- the encoder interface


@pytest.mark.parametrize("cls", HASHES)
@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "8", True, None])
def test_bad_hash_size_is_named(cls, bad):
    with pytest.raises(ValueError, match=rf"hash_size.*{bad!r}"):
        cls(hash_size=bad).fit()


@pytest.mark.parametrize("cls", HASHES)
@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((2, 32, 32, 3), np.uint8), r"\(2, 32, 32, 3\)"),
        (np.zeros((64, 64, 3), np.uint8), r"\(64, 64, 3\)"),
        (np.zeros((1, 64, 64, 4), np.uint8), r"\(1, 64, 64, 4\)"),
        (np.zeros((1, 64, 64, 3), np.uint16), "uint16"),
        ([[0]], "list"),
    ],
)
def test_bad_images_are_refused(cls, images, message):
    with pytest.raises(ValueError, match=message):
        cls().fit().encode(images)


@pytest.mark.parametrize("cls", HASHES)
def test_encode_before_fit_raises_not_fitted(cls):
    with pytest.raises(NotFittedError):
        cls().encode(np.zeros((1, 64, 64, 3), np.uint8))


@pytest.mark.parametrize("cls", HASHES)
def test_registered_cloned_saved_and_loaded(cls, photos, tmp_path):
    assert encoder_class(cls.name) is cls and ENCODERS[cls.name] is cls
    assert not cls.learns_from_images
    encoder = cls(hash_size=6).fit(photos[2])
    assert clone(encoder).get_params() == {"hash_size": 6}
    encoder.save(tmp_path)
    loaded = cls.load(tmp_path, encoder.get_params())
    np.testing.assert_array_equal(loaded.encode(photos[2]), encoder.encode(photos[2]))


# ---------------------------------------------------------------- in a pipeline


@pytest.fixture(scope="module")
def phash_pipelines(data_dir):
    return {
        metric: Pipeline(encoder="phash", n_clusters=2, metric=metric, random_state=0).fit(data_dir)
        for metric in ("cosine", "hamming")
    }


@pytest.mark.parametrize("metric", ["cosine", "hamming"])
def test_pipeline_finds_the_original_of_a_recompressed_photo(metric, phash_pipelines, photos):
    paths, copies, _, _ = photos
    pipeline = phash_pipelines[metric]
    assert pipeline.codes_.shape == (12, 64) and isinstance(pipeline.encoder_, PHash)
    first = pipeline.query(copies[3], n=3)[0]
    assert first.path == str(paths[3])
    bits = hamming(pipeline.transform([copies[3]])[0], pipeline.codes_[first.index])
    expected_score = 1 - bits / 64 if metric == "hamming" else 1 - 2 * bits / 64  # cosine of ±1 codes
    assert first.score == pytest.approx(expected_score, abs=1e-6)
    _, indices = pipeline.kneighbors(copies, n_neighbors=1)
    assert [pipeline.paths_[i] for i in indices[:, 0]] == [str(path) for path in paths]


def test_hamming_pipeline_distances_count_bits_and_survive_a_save(phash_pipelines, photos, tmp_path):
    pipeline = phash_pipelines["hamming"]
    distances, indices = pipeline.kneighbors(photos[1][:2], n_neighbors=12)
    queries = pipeline.transform(photos[1][:2])
    np.testing.assert_array_equal(distances, hamming(queries[:, None], pipeline.codes_[indices]))
    assert pipeline.similarity(photos[0][0], photos[1][0]) == pytest.approx(1 - distances[0, 0] / 64)
    pipeline.save(tmp_path / "saved")
    loaded = Pipeline.load(tmp_path / "saved")
    assert isinstance(loaded.encoder_, PHash) and loaded.metric == "hamming"
    np.testing.assert_array_equal(loaded.kneighbors(photos[1][:2], n_neighbors=12)[0], distances)
