"""End to end on data/: the command line as a user runs it, and retrieval of degraded copies."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from cae_sim import Pipeline, read_image


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_train_then_query_from_the_command_line(tmp_path, data_dir):
    out = tmp_path / "model"
    trained = run("cae_sim.train", str(data_dir), "--out", str(out), "--epochs", "2", "--image-size", "16", "--seed", "0", "--quiet")
    assert trained.returncode == 0, trained.stderr
    assert "images read:   12" in trained.stdout
    queried = run("cae_sim", "query", str(out), str(data_dir / "chelsea.jpg"), "-n", "2")
    assert queried.returncode == 0, queried.stderr
    query_line, header, best = queried.stdout.splitlines()[:3]
    assert query_line == f"query: {data_dir / 'chelsea.jpg'}" and header.split() == ["rank", "score", "kind", "path"]
    assert best.endswith("chelsea.jpg")


@pytest.fixture(scope="module")
def trained_on_data(data_dir):
    return Pipeline(encoder="cae", n_clusters=4, image_size=32, code_size=16, epochs=40, batch_size=4, random_state=0).fit(data_dir)


def degrade(image: np.ndarray, seed: int) -> np.ndarray:
    """A mildly degraded copy: a small crop, a brightness shift, JPEG at quality 60."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    dy, dx = rng.integers(0, max(1, h // 20)), rng.integers(0, max(1, w // 20))
    crop = np.ascontiguousarray(image[dy : h - dy, dx : w - dx])
    shifted = np.clip(crop.astype(np.int16) + rng.integers(-12, 13), 0, 255).astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", shifted, [cv2.IMWRITE_JPEG_QUALITY, 60])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)


@pytest.mark.slow
def test_degraded_copies_find_their_original(trained_on_data):
    hits = 0
    for seed, path in enumerate(trained_on_data.paths_):
        original = (read_image(path) * 255).round().astype(np.uint8)
        best = trained_on_data.query(degrade(original, seed), n=1)[0]
        hits += best.path == path
    # chance would be 1 in 12; textures such as grass and gravel may swap
    assert hits >= 0.75 * len(trained_on_data.paths_)


@pytest.mark.slow
def test_reconstructions_resemble_the_inputs(trained_on_data):
    images = np.stack([read_image(p, 32) for p in trained_on_data.paths_])
    error = np.mean((trained_on_data.encoder_.reconstruct(images) - images) ** 2)
    assert error < np.mean((images.mean(axis=0) - images) ** 2)
