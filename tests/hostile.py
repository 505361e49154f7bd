r"""Folders of hostile files beside good images (issue 25), and a child-process runner that measures peak memory.

Used by ``tests/integration/test_hostile_files.py`` and ``experiments/hostile_files.py``. Standard library only, so that an
experiment can build the folders without importing the ``cae_sim`` it measures.

Each case of ``CASES`` writes one file into a folder:

======================  ====================  ==================================================================
case                    file                  what it is
======================  ====================  ==================================================================
``fifo``                ``a.jpg``             a named pipe: opening it for reading blocks until a writer comes
``socket``              ``s.png``             a UNIX socket's file (bound, then closed)
``giant_png``           ``giant.png``         a complete, valid PNG of 24,000 x 24,000 gray pixels, about 1.3 MB
``declared_giant_png``  ``declared.png``      a tiny PNG whose header declares 50,000 x 50,000 pixels
``sparse_file``         ``sparse.png``        a PNG signature, then zeros up to 2 GiB (sparse: no disk used)
``non_utf8_name``       ``caf\xe9-\xff.jpg``  a copy of the first good image under a name that is not UTF-8
======================  ====================  ==================================================================

All but ``non_utf8_name`` must be skipped by a fit; that one must be kept, and as an exact copy of a good image it
is a near-duplicate, so that ``duplicates`` has to print its name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
#: The good images of every hostile folder, copied from data/.
GOOD_IMAGES = ("astronaut.jpg", "camera.jpg", "chelsea.jpg", "coffee.jpg", "coins.jpg", "rocket.jpg")
#: A file name that is not valid UTF-8 (bytes 0xE9 and 0xFF), as Python spells it (surrogate escapes).
NON_UTF8_NAME = os.fsdecode(b"caf\xe9-\xff.jpg")
#: Side of the complete PNG, in pixels: 576 megapixels, 576 MB decoded as gray, 1.7 GB as RGB.
GIANT_SIDE = 24_000
#: Side declared by the tiny PNG's header, in pixels.
DECLARED_SIDE = 50_000
#: Size of the sparse file, in bytes.
SPARSE_BYTES = 2**31
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The environment variables that change cae_sim's reading limits: unset in ``command_env``, so defaults apply.
LIMIT_VARIABLES = ("CAE_SIM_MAX_PIXELS", "CAE_SIM_MAX_FILE_BYTES")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def gray_png_header(width: int, height: int) -> bytes:
    """The signature and IHDR chunk of an 8-bit gray, non-interlaced PNG of ``width`` x ``height`` pixels."""
    return PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


def giant_png(cache: Path) -> Path:
    """Return a complete PNG of ``GIANT_SIDE`` squared gray pixels in ``cache``, writing it on the first call.

    A checkerboard of 1,000-pixel squares, compressed row by row (the image is never held in memory): a few
    seconds to write, hence the cache. The file is written under another name, then renamed into place.
    """
    path = cache / f"giant-{GIANT_SIDE}.png"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    rows = [b"\0" + bytes(((x // 1000 + phase) % 2) * 255 for x in range(GIANT_SIDE)) for phase in (0, 1)]
    compressor = zlib.compressobj(9)
    with tempfile.NamedTemporaryFile(dir=cache, suffix=".part", delete=False) as file:
        file.write(gray_png_header(GIANT_SIDE, GIANT_SIDE))
        for y in range(GIANT_SIDE):
            data = compressor.compress(rows[(y // 1000) % 2])
            if data:
                file.write(png_chunk(b"IDAT", data))
        file.write(png_chunk(b"IDAT", compressor.flush()) + png_chunk(b"IEND", b""))
    os.replace(file.name, path)
    return path


def _fifo(folder: Path, cache: Path) -> str:
    os.mkfifo(folder / "a.jpg")
    return "a.jpg"


def _socket(folder: Path, cache: Path) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(folder / "s.png"))  # the socket's file stays when it closes
    return "s.png"


def _giant_png(folder: Path, cache: Path) -> str:
    shutil.copyfile(giant_png(cache), folder / "giant.png")
    return "giant.png"


def _declared_giant_png(folder: Path, cache: Path) -> str:
    rows = zlib.compress((b"\0" + bytes(DECLARED_SIDE)) * 2)
    data = gray_png_header(DECLARED_SIDE, DECLARED_SIDE) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")
    (folder / "declared.png").write_bytes(data)
    return "declared.png"


def _sparse_file(folder: Path, cache: Path) -> str:
    with open(folder / "sparse.png", "wb") as file:
        file.write(PNG_SIGNATURE)
        file.truncate(SPARSE_BYTES)
    return "sparse.png"


def _non_utf8_name(folder: Path, cache: Path) -> str:
    shutil.copyfile(DATA / GOOD_IMAGES[0], folder / NON_UTF8_NAME)
    return NON_UTF8_NAME


#: Each case: the function that writes its file into a folder (given a cache folder too) and returns its name.
CASES: dict[str, Callable[[Path, Path], str]] = {
    "fifo": _fifo,
    "socket": _socket,
    "giant_png": _giant_png,
    "declared_giant_png": _declared_giant_png,
    "sparse_file": _sparse_file,
    "non_utf8_name": _non_utf8_name,
}
#: The cases whose file is an image a fit must keep; the others must be skipped.
GOOD_CASES = frozenset({"non_utf8_name"})


def unavailable(case: str) -> str | None:
    """Why this platform cannot make ``case``'s file, or None when it can."""
    if case == "fifo" and not hasattr(os, "mkfifo"):
        return "os.mkfifo is not available on this platform"
    if case == "socket" and not hasattr(socket, "AF_UNIX"):
        return "UNIX sockets (socket.AF_UNIX) are not available on this platform"
    return None


@dataclass(frozen=True)
class HostileFolder:
    """A folder built by ``build_folder``.

    Attributes
    ----------
    folder : Path
        The folder.
    good : list of str
        Names of the files a fit must keep.
    bad : dict of str to str
        Name of each file a fit must skip, to its case.
    """

    folder: Path
    good: list[str]
    bad: dict[str, str]


def build_folder(folder: Path, cache: Path, cases: Sequence[str] = tuple(CASES)) -> HostileFolder:
    """Copy ``GOOD_IMAGES`` into ``folder`` (created) and write the file of each of ``cases`` there.

    Cases this platform cannot make (see ``unavailable``) are left out.

    Parameters
    ----------
    folder : Path
        A folder that does not exist yet or is empty.
    cache : Path
        Where the giant PNG is kept between calls.
    cases : sequence of str
        Keys of ``CASES``.

    Returns
    -------
    HostileFolder
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in GOOD_IMAGES:
        shutil.copyfile(DATA / name, folder / name)
    good, bad = list(GOOD_IMAGES), {}
    for case in cases:
        if unavailable(case) is None:
            name = CASES[case](folder, cache)
            if case in GOOD_CASES:
                good.append(name)
            else:
                bad[name] = case
    return HostileFolder(folder, good, bad)


@dataclass(frozen=True)
class ChildRun:
    """How a child process ended: status, output, wall time and peak resident memory.

    Attributes
    ----------
    returncode : int
        Exit status; minus the signal's number when killed by one.
    timed_out : bool
        Whether it was killed for running past its time limit.
    stdout, stderr : bytes
        Its output, unchanged.
    seconds : float
        Wall time.
    peak_rss_mb : float or None
        Its peak resident set size, in MB (10**6 bytes): the program's own ``VmHWM``; None where there is no
        ``/proc`` or it was killed.
    """

    returncode: int
    timed_out: bool
    stdout: bytes
    stderr: bytes
    seconds: float
    peak_rss_mb: float | None


#: What ``run_child`` runs in the child: the module, as ``python -m`` runs it, and at exit the program's own peak
#: resident memory (``VmHWM``) written to a file. ``os.wait4``'s ``ru_maxrss`` cannot serve: a child's count starts
#: from its parent's memory at the fork, so a child of a test process that holds TensorFlow would measure its size.
_MEASURED_MODULE = """
import atexit, os, runpy, sys
record, module = sys.argv[1], sys.argv[2]
def write_high_water():
    if os.path.exists("/proc/self/status"):
        with open("/proc/self/status") as status, open(record, "w") as out:
            out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(write_high_water)
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def command_env(checkout: str | os.PathLike) -> dict[str, str]:
    """This process's environment for a ``python -m cae_sim`` child: ``checkout``'s code, a strict UTF-8 stdout (a
    name that is not UTF-8 must be written on purpose, not by luck of the locale), the default reading limits."""
    env = {key: value for key, value in os.environ.items() if key not in LIMIT_VARIABLES}
    return {**env, "PYTHONIOENCODING": "utf-8:strict", "PYTHONPATH": os.fspath(checkout)}


def run_child(command: Sequence[str], env: Mapping[str, str], timeout: float, cwd: str | os.PathLike | None = None) -> ChildRun:
    """Run ``command`` (``[python, "-m", module, *args]``) in a new process group, killing the group after
    ``timeout`` seconds; measure the child.

    Output goes to temporary files, not pipes: no pipe can fill and block the child, nor a grandchild left behind
    keep one open.
    """
    if list(command[1:2]) != ["-m"]:
        raise ValueError(f"run_child runs python -m MODULE ...; got {list(command)[:3]}")
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as scratch:
        record = Path(scratch) / "high-water-kb"
        started = time.perf_counter()
        process = subprocess.Popen([command[0], "-c", _MEASURED_MODULE, str(record), *command[2:]], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=dict(env), cwd=cwd,
                                   start_new_session=True)

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):  # it ended as the time ran out
                os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, _ = os.wait4(process.pid, 0)
        timer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        peak_rss_mb = int(record.read_text()) * 1024 / 1e6 if record.is_file() else None
    return ChildRun(process.returncode, timed_out.is_set(), stdout, stderr, seconds, peak_rss_mb)
