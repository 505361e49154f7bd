"""Shared fixtures: tiny models, sample data, and folders of good and broken image files."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

#: The tests folder (its helper modules: hostile.py, fuzz_reader.py, save_mutations.py; fixtures/), the repository
#: and its sample photos, for test files at any depth below tests/.
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = ROOT / "data"
#: Small settings that keep each training to a second or two.
TINY = dict(image_size=16, code_size=8, epochs=2, batch_size=8, random_state=0)


def write_image(path: Path, rgb: np.ndarray, extension: str | None = None) -> Path:
    """Encode an RGB(A)/gray array with OpenCV into ``path`` (works for non-ASCII names)."""
    image = rgb
    if rgb.ndim == 3 and rgb.shape[-1] == 3:
        image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif rgb.ndim == 3 and rgb.shape[-1] == 4:
        image = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(extension or path.suffix, image)
    assert ok, path
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded.tofile(str(path))
    return path


class InProcessClient:
    """Runs each submitted task at once, in this process; records what was submitted."""

    def __init__(self):
        self.submitted = []

    def submit(self, function, *args, **kwargs):
        self.submitted.append(args)
        return function(*args)

    def gather(self, futures):
        return list(futures)

    def starts(self) -> list[int]:
        """The first position of each partition submitted."""
        return [args[3] for args in self.submitted]


#: Photos of data/ by kind: four textures and five objects (the quality tests tell them apart).
TEXTURES = ["brick.jpg", "grass.jpg", "gravel.jpg", "coins.jpg"]
OBJECTS = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg", "camera.jpg"]


def nearest_neighbour_agreement(codes: np.ndarray, groups: np.ndarray) -> float:
    """Fraction of images whose most cosine-similar other image is of the same group."""
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return float(np.mean(groups[similarity.argmax(axis=1)] == groups))


def smooth_image(seed: int, height: int = 48, width: int = 48, channels: int = 3) -> np.ndarray:
    """A smooth random uint8 image: blurred noise, distinct per seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, channels), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return image.reshape(height, width, channels)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def mixed_folder(tmp_path_factory) -> tuple[Path, set[str], set[str]]:
    """A folder of readable images of every awkward kind, and broken files.

    Returns the folder, the set of readable paths and the set of paths that must be skipped.
    """
    root = tmp_path_factory.mktemp("mixed")
    good = {
        write_image(root / "color.png", smooth_image(1)),
        write_image(root / "gray.png", smooth_image(2, channels=1)[..., 0]),
        write_image(root / "rgba.png", np.dstack([smooth_image(3), np.full((48, 48), 128, np.uint8)])),
        write_image(root / "deep16.png", smooth_image(4).astype(np.uint16) * 257),
        write_image(root / "tiny.png", smooth_image(5, 1, 1)),
        write_image(root / "large.jpg", smooth_image(6, 3000, 4000)),
        write_image(root / "ünïcödé 写真.jpg", smooth_image(7)),
        write_image(root / "nested" / "deeper" / "inner.bmp", smooth_image(8)),
        write_image(root / "UPPER.JPG", smooth_image(9), ".jpg"),
        write_image(root / "scan.tiff", smooth_image(10)),
        write_image(root / "web.webp", smooth_image(11)),
    }
    (root / "linked").mkdir()
    os.symlink(root / "color.png", root / "linked" / "link.png")
    good.add(root / "linked" / "link.png")

    bad = {root / "empty.png", root / "text.png", root / "garbage.jpg", root / "truncated.jpg", root / "dangling.png"}
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("this is not an image")
    (root / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    jpeg = (root / "ünïcödé 写真.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    os.symlink(root / "missing.png", root / "dangling.png")
    (root / "folder.jpg").mkdir()
    bad.add(root / "folder.jpg")
    (root / "notes.txt").write_text("not an image extension: ignored, not skipped")
    return root, {str(p) for p in good}, {str(p) for p in bad}


@pytest.fixture(scope="session")
def fitted(data_dir):
    """A tiny pipeline fitted on data/ (12 photos), shared by read-only tests."""
    from cae_sim import Pipeline

    return Pipeline(encoder="cae", n_clusters=3, **TINY).fit(data_dir)


@pytest.fixture(scope="session")
def report_collection(tmp_path_factory):
    """A hash-encoded pipeline over 36 files (two of them exact copies, one with HTML's special characters in
    its name) and its HTML report (6 central images per cluster, 4 neighbours).

    Returns the pipeline and the report's folder.
    """
    from cae_sim import Pipeline
    from cae_sim.report import write_report

    folder = tmp_path_factory.mktemp("collection")
    for seed in range(33):
        write_image(folder / f"image_{seed:02d}.png", smooth_image(seed, 40, 56))
    write_image(folder / 'odd <b>&"name\'.png', smooth_image(100, 40, 56))
    for seed in (3, 7):
        write_image(folder / f"copy_of_{seed:02d}.png", smooth_image(seed, 40, 56))
    pipeline = Pipeline(encoder="dhash", n_clusters=3, random_state=0).fit(folder)
    report = tmp_path_factory.mktemp("report") / "report"
    write_report(pipeline, report, per_cluster=6, neighbors=4)
    return pipeline, report
