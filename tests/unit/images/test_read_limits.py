"""Bounded reading: image sizes from headers, only regular files opened, byte and pixel limits, OpenCV errors."""

import os
import socket
import struct
import threading
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cae_sim.images import MAX_PIXELS, ImageReadError, image_dimensions, read_file, read_limits, read_thumbnail

# Formats OpenCV writes, with the encoder options worth covering (progressive JPEG, lossless WebP).
WRITTEN = [(".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".png", []), (".tiff", []), (".webp", []),
           (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]), (".bmp", []), (".ppm", []), (".pgm", []), (".pbm", []),
           (".pam", []), (".pfm", []), (".ras", []), (".gif", []), (".jp2", []), (".hdr", []), (".avif", [])]


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk (8-bit gray) declaring ``width`` × ``height``, with a short IDAT and IEND."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(WRITTEN), st.integers(1, 70), st.integers(1, 70), st.booleans())
def test_image_dimensions_are_read_from_every_format_opencv_writes(written, height, width, gray):
    extension, options = written
    image = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), np.uint8)
    if (gray and extension not in (".gif", ".ppm")) or extension in (".pgm", ".pbm"):  # what OpenCV writes each from
        image = image[..., 0]
    if extension in (".pfm", ".hdr"):
        image = image.astype(np.float32) / 255
    encoded_ok, encoded = cv2.imencode(extension, image, options)
    assume(encoded_ok)  # OpenCV writes no JPEG 2000 of a single pixel
    assert image_dimensions(encoded) == (height, width)
    assert image_dimensions(encoded.tobytes()) == (height, width)


def test_big_tiff_vp8x_webp_and_negative_bmp_heights_are_read():
    big_tiff = b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 2)
    big_tiff += struct.pack("<HHQQ", 256, 4, 1, 70_000) + struct.pack("<HHQQ", 257, 16, 1, 30_000)
    assert image_dimensions(big_tiff) == (30_000, 70_000)
    vp8x = b"RIFF" + b"\x00" * 4 + b"WEBPVP8X" + b"\x00" * 8 + (4999).to_bytes(3, "little") + (2999).to_bytes(3, "little")
    assert image_dimensions(vp8x) == (3000, 5000)
    bmp = cv2.imencode(".bmp", np.zeros((5, 7, 3), np.uint8))[1].tobytes()
    top_down = bmp[:22] + struct.pack("<i", -5) + bmp[26:]
    assert image_dimensions(top_down) == (5, 7)


@given(st.binary(max_size=64))
def test_unknown_or_cut_short_headers_give_none(data):
    if data[:2] == b"\xff\xd8" or data[:4] in (b"II*\x00", b"MM\x00*") or data.startswith(b"\x89PNG"):
        data = data[:20]  # a recognised format cut before its size
    assert image_dimensions(data) is None or all(value >= 0 for value in image_dimensions(data))


@pytest.mark.parametrize("declared", [(50_000, 50_000), (24_000, 24_000), (200_000, 1_000)])
def test_an_image_declaring_more_than_max_pixels_is_refused_before_decoding(tmp_path, declared):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(*declared))
    with pytest.raises(ImageReadError, match=rf"{path}: .*pixels, over the limit of {MAX_PIXELS:,} \(max_pixels"):
        read_file(str(path), 64)
    with pytest.raises(ImageReadError, match="max_pixels"):
        read_thumbnail(str(path), 64)


def test_limits_follow_their_environment_variables(tmp_path, monkeypatch, data_dir):
    photo = str(data_dir / "astronaut.jpg")  # 256 × 256 = 65,536 pixels
    monkeypatch.setenv("CAE_SIM_MAX_PIXELS", "65_536")
    assert read_file(photo, 16).shape == (16, 16, 3)
    monkeypatch.setenv("CAE_SIM_MAX_PIXELS", "65535")
    with pytest.raises(ImageReadError, match="65,536 pixels, over the limit of 65,535"):
        read_file(photo, 16)
    monkeypatch.delenv("CAE_SIM_MAX_PIXELS")
    size = os.path.getsize(photo)
    monkeypatch.setenv("CAE_SIM_MAX_FILE_BYTES", str(size - 1))
    with pytest.raises(ImageReadError, match=rf"{size:,} bytes, over the limit of {size - 1:,} \(max_bytes"):
        read_file(photo, 16)
    for bad in ("lots", "-5", "0", "1e9"):
        monkeypatch.setenv("CAE_SIM_MAX_FILE_BYTES", bad)
        with pytest.raises(ValueError, match=f"CAE_SIM_MAX_FILE_BYTES must be a positive integer; got '{bad}'"):
            read_limits()


def test_a_sparse_file_over_max_bytes_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "sparse.png"
    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n")
        file.truncate(read_limits().max_bytes + 1)
    with pytest.raises(ImageReadError, match=r"bytes, over the limit of .* \(max_bytes"):
        read_file(str(path), 64)


def test_an_opencv_error_is_the_files_skip_reason(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(50_000, 50_000))  # past OpenCV's own limit of 2**30 pixels, which raises
    monkeypatch.setenv("CAE_SIM_MAX_PIXELS", str(10**10))
    with pytest.raises(ImageReadError, match=rf"{path}: OpenCV cannot decode it \(.+\)"):
        read_file(str(path), 64)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_fifo_is_refused_at_once_even_with_no_writer(tmp_path):
    fifo = tmp_path / "a.jpg"
    os.mkfifo(fifo)
    outcome = {}

    def read():
        try:
            read_file(str(fifo), 16)
        except ImageReadError as error:
            outcome["error"] = str(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # free the blocked reader before failing
        os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        pytest.fail("reading a FIFO blocked")
    assert outcome["error"] == f"{fifo}: is a named pipe (FIFO), not a regular file"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no UNIX sockets on this system")
def test_sockets_devices_and_folders_are_refused_with_what_they_are(tmp_path):
    path = tmp_path / "s.png"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
    with pytest.raises(ImageReadError, match="is a socket, not a regular file"):
        read_file(str(path), 16)
    if os.path.exists("/dev/null"):
        with pytest.raises(ImageReadError, match="/dev/null: is a character device, not a regular file"):
            read_file("/dev/null", 16)
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(ImageReadError, match="is a directory"):
        read_file(str(tmp_path / "folder.jpg"), 16)


def test_a_link_to_a_regular_file_is_still_read(tmp_path, data_dir):
    link = tmp_path / "link.jpg"
    link.symlink_to(data_dir / "astronaut.jpg")
    assert np.array_equal(read_file(str(link), 32), read_file(str(data_dir / "astronaut.jpg"), 32))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_hashing_a_fifo_is_an_error_not_a_hang(tmp_path):
    from cae_sim._files import file_sha256

    fifo = tmp_path / "weights.h5"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="is a named pipe \\(FIFO\\), not a regular file"):
        file_sha256(fifo)


def test_a_jpeg_of_more_scans_than_the_limit_is_refused_before_decoding(tmp_path, data_dir):
    from cae_sim.images.decoding import MAX_JPEG_SCANS

    photo = cv2.imread(str(data_dir / "astronaut.jpg"))
    progressive = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    last_scan, end = progressive.rfind(b"\xff\xda"), progressive.rfind(b"\xff\xd9")
    scans = progressive.count(b"\xff\xda")
    assert 1 < scans < MAX_JPEG_SCANS and read_file(_written(tmp_path / "ok.jpg", progressive), 32).shape == (32, 32, 3)
    repeated = progressive[:end] + progressive[last_scan:end] * (MAX_JPEG_SCANS + 1 - scans) + progressive[end:]
    with pytest.raises(ImageReadError, match=f"a JPEG of {MAX_JPEG_SCANS + 1} scans, over the limit of {MAX_JPEG_SCANS}"):
        read_file(_written(tmp_path / "bomb.jpg", repeated), 32)


def _written(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
