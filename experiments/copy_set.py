"""A copy-matching set: real photos (the originals), degraded copies of each, and distractors.

Layout written by ``write_copy_set(root)``::

    root/source/<name>.png                  every original (``datasets.load_real_photos()``)
    root/source/distractor_0001.png, ...    photos that have no copy (CIFAR-10 cats and dogs, LFW faces and non-faces)
    root/target/<degradation>/<name>.png    each original under each degradation
    root/done.json                          seed and counts: the files are not written again while they match

A target's file stem is its original's stem in ``source/``, so matching code
can pair them by name (``cae_sim.match`` scores Top-N accuracy that way).

``DEGRADATIONS`` maps a name to a function (RGB uint8 image, numpy Generator)
→ RGB uint8 image. Eight hard ones look like old prints and bad copies
(heavy crop, rotation with scaling, perspective, colour cast, faded sepia with
noise and scratches, gray low-contrast JPEG at quality 10, a coloured frame
with a caption, a 24–32 px thumbnail blown up again); two easy ones (hflip,
jpeg50) are kept for comparison. Each copy's random values come from a
generator seeded by (seed, degradation, original name), so a copy does not
change when photos are added or the order changes.

``save_degradation_picture()`` draws one original beside its ten copies
(``experiments/results/copy_set_degradations.png``).
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import benchlib
import cv2
import numpy as np

from cae_sim.plots import tile_grid, write_image
from datasets import load_dogs_cats, load_lfw_subset, load_real_photos

RESULTS = Path(__file__).resolve().parent / "results"
DONE_MARKER = "done.json"
CAPTIONS = (
    "Summer holidays 1987", "Grandma's garden", "COPY - do not reproduce", "Scan 0042 (c) archive",
    "Trip to the mountains", "Property of the library", "IMG_2231.JPG", "Printed in Germany",
)


# --------------------------------------------------------------------------- helpers (RGB uint8 in and out)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _sign(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


# --------------------------------------------------------------------------- degradations


def heavy_crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep a random 40–60 % of the area (aspect ratio changed by up to ×1.25) at a random place."""
    h, w = image.shape[:2]
    area, aspect = rng.uniform(0.4, 0.6), np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
    ch, cw = min(h, round(h * np.sqrt(area * aspect))), min(w, round(w * np.sqrt(area / aspect)))
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return np.ascontiguousarray(image[top : top + ch, left : left + cw])


def rotate_scale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate by 20–45° either way and scale by 0.7–1.3 about the centre; the border reflected or black."""
    h, w = image.shape[:2]
    angle, scale = _sign(rng) * rng.uniform(20, 45), rng.uniform(0.7, 1.3)
    border = cv2.BORDER_REFLECT_101 if rng.random() < 0.5 else cv2.BORDER_CONSTANT
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=(0, 0, 0))


def perspective(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move each corner by up to 15 % of the side in x and y (a photo of a print taken at an angle); black border."""
    h, w = image.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners + (rng.uniform(-0.15, 0.15, (4, 2)) * [w, h]).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(corners, moved)
    return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def colour_cast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A strong cast: each channel times 0.5–1.5 plus −60…60, one channel pushed at least ±0.35 from gain 1."""
    gains, offsets = rng.uniform(0.5, 1.5, 3), rng.uniform(-60, 60, 3)
    strong = rng.integers(3)
    gains[strong] = 1 + _sign(rng) * rng.uniform(0.35, 0.5)
    return _to_uint8(image.astype(np.float32) * gains + offsets)


def sepia_noise_scratches(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A faded sepia print: sepia, contrast ×0.4–0.6, lifted blacks, Gaussian noise, 3–8 thin light scratches."""
    h, w = image.shape[:2]
    tone = benchlib.sepia_tone(image)
    mean = tone.mean()
    faded = (tone - mean) * rng.uniform(0.4, 0.6) + mean + rng.uniform(15, 40)
    faded += rng.normal(0, rng.uniform(6, 12), faded.shape[:2])[..., None]
    result = _to_uint8(faded)
    scratches = result.copy()
    thickness = max(1, round(min(h, w) / 400))
    for _ in range(rng.integers(3, 9)):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        length, angle = rng.uniform(0.2, 0.9) * max(h, w), rng.uniform(0, np.pi)
        x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
        shade = int(rng.integers(215, 256))
        cv2.line(scratches, (int(x0), int(y0)), (int(x1), int(y1)), (shade, shade, shade), thickness, cv2.LINE_AA)
    return cv2.addWeighted(scratches, 0.8, result, 0.2, 0)


def gray_lowcontrast_jpeg10(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grayscale, contrast halved about the mean, JPEG at quality 10 (no randomness)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    low = _to_uint8((gray - gray.mean()) * 0.5 + gray.mean())
    return benchlib.jpeg(cv2.cvtColor(low, cv2.COLOR_GRAY2RGB), 10)


def border_text(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A coloured frame 10–20 % of the shorter side thick around the photo, a caption in its bottom part."""
    h, w = image.shape[:2]
    side = min(h, w)
    thickness = round(side * rng.uniform(0.10, 0.20))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    framed = cv2.copyMakeBorder(image, *[thickness] * 4, cv2.BORDER_CONSTANT, value=colour)
    text = str(rng.choice(CAPTIONS))
    font = cv2.FONT_HERSHEY_DUPLEX
    scale = thickness * 0.6 / cv2.getTextSize(text, font, 1.0, 1)[0][1]
    (text_w, text_h), _ = cv2.getTextSize(text, font, scale, max(1, round(scale)))
    scale *= min(1.0, 0.9 * framed.shape[1] / text_w)  # a long caption on a narrow photo: shrink to fit
    (text_w, text_h), _ = cv2.getTextSize(text, font, scale, max(1, round(scale)))
    x = int(rng.integers(0, max(1, framed.shape[1] - text_w)))
    y = framed.shape[0] - (thickness - text_h) // 2
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    cv2.putText(framed, text, (x, y), font, scale, ink, max(1, round(scale)), cv2.LINE_AA)
    return framed


def tiny_downup(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrink so the longer side is 24–32 px (area averaging), then enlarge back to the original size (bilinear)."""
    h, w = image.shape[:2]
    long_side = int(rng.integers(24, 33))
    scale = long_side / max(h, w)
    return benchlib.down_up(image, (max(1, round(w * scale)), max(1, round(h * scale))))


def hflip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror left to right (easy)."""
    return benchlib.hflip(image)


def jpeg50(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """JPEG at quality 50 (easy)."""
    return benchlib.jpeg(image, 50)


DEGRADATIONS = {
    f.__name__: f
    for f in (
        heavy_crop, rotate_scale, perspective, colour_cast, sepia_noise_scratches, gray_lowcontrast_jpeg10,
        border_text, tiny_downup, hflip, jpeg50,
    )
}


def degrade(image: np.ndarray, degradation: str, name: str, seed: int = 0) -> np.ndarray:
    """The copy of ``image`` (named ``name``) under ``degradation``, from a generator seeded by all three."""
    key = [seed, zlib.crc32(degradation.encode()), zlib.crc32(name.encode())]
    return DEGRADATIONS[degradation](image, np.random.default_rng(key))


# --------------------------------------------------------------------------- the set on disk


def distractors(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` photos with no copy, RGB uint8 at their native size, in a seeded random order.

    Half (at most 200) come from scikit-image's lfw_subset (25×25 gray faces
    and non-faces, made RGB), the rest from the 2,000 CIFAR-10 cats and dogs
    (32×32) of ``load_dogs_cats``.
    """
    faces, _ = load_lfw_subset()
    pets, _ = load_dogs_cats()
    if not 0 <= n <= len(faces) + len(pets):
        raise ValueError(f"n_distractors must be between 0 and {len(faces) + len(pets)}, got {n}")
    rng = np.random.default_rng([seed, zlib.crc32(b"distractors")])
    n_faces = min(n // 2, len(faces))
    picked = [cv2.cvtColor(faces[i], cv2.COLOR_GRAY2RGB) for i in rng.choice(len(faces), n_faces, replace=False)]
    picked += [pets[i] for i in rng.choice(len(pets), n - n_faces, replace=False)]
    return [picked[i] for i in rng.permutation(n)]


def write_copy_set(root: Path, seed: int = 0, n_distractors: int = 200) -> dict:
    """Write the originals, distractors and copies under ``root`` (see the module docstring); return what was written.

    Nothing is written when ``root/done.json`` records the same seed, counts
    and degradations. Otherwise ``root/source`` and ``root/target`` are
    deleted and written anew, and the marker is written last, so a run cut
    short is redone.

    Returns
    -------
    dict
        ``root``, ``source``, ``target`` (paths as str), ``originals`` (the
        names, sorted), ``degradations`` (the names), ``seed``,
        ``n_originals``, ``n_distractors``, ``n_targets``.
    """
    root = Path(root)
    source, target = root / "source", root / "target"
    photos = load_real_photos()
    info = {
        "root": str(root), "source": str(source), "target": str(target),
        "originals": sorted(photos), "degradations": list(DEGRADATIONS), "seed": seed,
        "n_originals": len(photos), "n_distractors": n_distractors, "n_targets": len(photos) * len(DEGRADATIONS),
    }
    marker = root / DONE_MARKER
    if marker.exists() and json.loads(marker.read_text()) == info:
        return info
    for folder in (source, target):
        shutil.rmtree(folder, ignore_errors=True)
    source.mkdir(parents=True)
    for degradation in DEGRADATIONS:
        (target / degradation).mkdir(parents=True)
    for name, image in photos.items():
        write_image(source / f"{name}.png", image)
        for degradation in DEGRADATIONS:
            write_image(target / degradation / f"{name}.png", degrade(image, degradation, name, seed))
    for i, image in enumerate(distractors(n_distractors, seed), start=1):
        write_image(source / f"distractor_{i:04d}.png", image)
    marker.write_text(json.dumps(info, indent=1))
    return info


# --------------------------------------------------------------------------- picture


def _letterboxed(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` fitted into a white ``size``×``size`` square (aspect ratio kept), centred at its foot, above the caption."""
    square = np.full((size, size, 3), 255, np.uint8)
    h, w = image.shape[:2]
    scale = size / max(h, w)
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    top, left = size - small.shape[0], (size - small.shape[1]) // 2
    square[top : top + small.shape[0], left : left + small.shape[1]] = small
    return square


def save_degradation_picture(
    path: Path = RESULTS / "copy_set_degradations.png", name: str = "chelsea", seed: int = 0, size: int = 220
) -> Path:
    """Draw the original ``name`` beside its copy under each degradation, labelled, in two rows; return the path."""
    image = load_real_photos()[name]
    panels = [_letterboxed(image, size)] + [_letterboxed(degrade(image, d, name, seed), size) for d in DEGRADATIONS]
    labels = [f"original: {name}", *DEGRADATIONS]
    columns = (len(panels) + 1) // 2
    rows, captions = [panels[:columns], panels[columns:]], [labels[:columns], labels[columns:]]
    write_image(path, tile_grid(rows, columns, tile=size, gap=16, captions=captions))  # the panels are already square
    return Path(path)
