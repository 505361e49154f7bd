"""Fuzzing the image reader and the save loader (issue 25).

Any bytes under an image's name are decoded to an image of the promised shape, or refused with an
``ImageReadError`` or ``OSError`` naming the file; any byte-level damage to a save's files loads and answers, or
raises a ``ValueError``/``OSError`` naming the save. Never another exception, a crash, a hang, or more memory than
``MEMORY``. Each call runs in a worker process (tests/fuzz_reader.py) under a time and address-space limit;
hypothesis draws the inputs here and shrinks a failure to its shortest recipe. experiments/fuzz_campaign.py runs
the same inputs many thousands of times. (tests/save_mutations.py covers JSON-structured and array-level damage to
a save; here it is bytes.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_reader import (EXTENSIONS, IMAGE_KINDS, READER_TARGETS, SAVE_TARGET, HypothesisDraw, Mutant, Worker,
                         build_save, header_fields, image_seeds, read_field, save_mutant)

#: The address space a worker may use, and the seconds one call may take.
MEMORY, TIMEOUT = 1536 << 20, 20.0
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    """A reader worker and a folder for its inputs."""
    folder = tmp_path_factory.mktemp("fuzz-reader")
    worker = Worker("cae_sim.images.decoding", MEMORY, TIMEOUT, folder / "worker.log")
    yield worker, folder
    worker.close()


@pytest.fixture(scope="module")
def loader(tmp_path_factory):
    """A loader worker, a real small save and a folder for its mutants."""
    folder = tmp_path_factory.mktemp("fuzz-saves")
    worker = Worker("cae_sim", MEMORY, TIMEOUT, folder / "worker.log")
    yield worker, build_save(folder), folder
    worker.close()


def read_everywhere(reader, mutant: Mutant) -> None:
    worker, folder = reader
    recipe = " | ".join(mutant.recipe)
    path = mutant.write(folder)
    for target in READER_TARGETS:
        outcome = worker.run(target, path)
        assert outcome.clean, f"{target} on {recipe}: {outcome.outcome}: {outcome.detail}"


# ---------------------------------------------------------------- the image reader


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_random_bytes_under_an_image_name_are_read_or_refused_naming_the_file(reader, data):
    read_everywhere(reader, IMAGE_KINDS["random bytes"](HypothesisDraw(data)))


@settings(FUZZ, max_examples=200)
@given(data=st.data())
@pytest.mark.slow
def test_real_files_whose_header_declares_other_sizes_are_read_or_refused_naming_the_file(reader, data):
    read_everywhere(reader, IMAGE_KINDS["header edits"](HypothesisDraw(data)))


@settings(FUZZ, max_examples=250)
@given(data=st.data())
@pytest.mark.slow
def test_truncated_flipped_and_overwritten_real_files_are_read_or_refused_naming_the_file(reader, data):
    read_everywhere(reader, IMAGE_KINDS["mutated files"](HypothesisDraw(data)))


def damaged_apng() -> bytes:
    """The campaign's crash, made smaller: the APNG seed with its first frame control chunk renamed (fcTL → fcTM,
    so the default image is not a frame) and 16 bytes near the end of the second frame's data zeroed."""
    data = bytearray(next(seed for seed in image_seeds() if seed.name == "apng 2 frames").data)
    data[data.index(b"fcTL") + 3] ^= 1
    position = data.index(b"fdAT") + 5050
    data[position : position + 16] = bytes(16)
    return bytes(data)


@pytest.mark.parametrize("mutant", [
    Mutant(".tif", b"II+\x00\x08\x00\x00\x00" + b"\xff" * 8, ["BigTIFF whose first directory lies at 2**64 - 1"]),
    Mutant(".png", damaged_apng(), ["APNG without a frame control before IDAT, second frame's data damaged"]),
], ids=["bigtiff offset past 2**63", "apng damaged second frame"])
def test_inputs_the_campaign_found_are_read_or_refused_naming_the_file(reader, mutant):
    read_everywhere(reader, mutant)


@pytest.mark.parametrize("seed", image_seeds(), ids=lambda seed: seed.name)
def test_every_seed_of_a_listed_format_decodes_and_its_size_fields_are_found(reader, seed):
    """The mutants start from real files: each of a listed format decodes, and the fields an edit targets are the
    ones that hold its size (every seed is 56 × 40, but the one photo kept at 512 × 384)."""
    worker, folder = reader
    path = Mutant(seed.extension, seed.data).write(folder, stem="seed")
    outcomes = {worker.run(target, path).outcome for target in READER_TARGETS}
    assert outcomes == {"decoded"} if seed.must_decode else outcomes <= {"decoded", "ImageReadError"}, (seed.name, outcomes)
    less_one = ("webp canvas", "webp frame")  # VP8X stores each side less one; VP8L packs them in bits, unchecked
    sizes = {read_field(seed.data, field) + field.name.startswith(less_one) for field in header_fields(seed.data)
             if field.name.endswith(("width", "height", "width value", "height value"))}
    assert sizes == ({512, 384} if "512" in seed.name else {56, 40}) or seed.name == "webp lossless", (seed.name, sizes)


# ---------------------------------------------------------------- the save loader


@settings(FUZZ, max_examples=80)
@given(data=st.data())
@pytest.mark.slow
def test_a_save_damaged_byte_by_byte_loads_and_answers_or_says_what_is_wrong(loader, data):
    worker, save, folder = loader
    copy = folder / uuid.uuid4().hex
    try:
        recipe = " | ".join(save_mutant(save, copy, HypothesisDraw(data)))
        outcome = worker.run(SAVE_TARGET, copy)
        assert outcome.clean, f"{recipe}: {outcome.outcome}: {outcome.detail}"
    finally:
        shutil.rmtree(copy, ignore_errors=True)


UNCLOSED = b"{'descr': '<i8', 'fortran_order': False, 'shape': (8,".ljust(117) + b"\n"


@pytest.mark.parametrize("header", [
    b"\x01\x00" + len(UNCLOSED).to_bytes(2, "little") + UNCLOSED,  # numpy raises tokenize.TokenError
    b"\x02\x00" + (2**32 - 16).to_bytes(4, "little"),  # numpy reads that many bytes: MemoryError under the limit
], ids=["unclosed bracket", "header length of 4 GiB"])
def test_a_damaged_npy_header_that_the_fuzzing_found_is_a_damaged_save(loader, tmp_path, header):
    """The files table agrees with the damaged file, so only the header's check can refuse it."""
    worker, save, _ = loader
    copy = tmp_path / "save"
    shutil.copytree(save, copy)
    data = b"\x93NUMPY" + header + np.zeros(8, "<i8").tobytes()
    (copy / "labels.npy").write_bytes(data)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["labels.npy"] |= {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    outcome = worker.run(SAVE_TARGET, copy)
    assert outcome.outcome == "ValueError" and "labels.npy" in outcome.detail, outcome


# ---------------------------------------------------------------- the harness itself


@pytest.mark.parametrize(("behaviour", "expected", "detail"), [
    ("os.kill(os.getpid(), signal.SIGSEGV)", "crash", "killed by SIGSEGV"),
    ("os.abort()", "crash", "killed by SIGABRT"),
    pytest.param("time.sleep(30)", "timeout", "no answer in 1.0 s", marks=pytest.mark.slow),  # waits out the 1 s limit
])
def test_the_worker_counts_a_crash_or_a_hang_and_starts_again(tmp_path, behaviour, expected, detail):
    child = ("import os, signal, sys, time\nprint('ready', flush=True)\n"
             f"for line in sys.stdin:\n    {behaviour}\n")
    worker = Worker("unused", MEMORY, 1.0, tmp_path / "log", command=[sys.executable, "-c", child])
    try:
        for starts in (1, 2):
            outcome = worker.run("any", tmp_path / "any.png")
            assert (outcome.outcome, outcome.detail.split(";")[0], worker.starts) == (expected, detail, starts)
    finally:
        worker.close()


def test_an_extension_of_each_listed_format_is_drawn():
    from cae_sim.images.sources import IMAGE_EXTENSIONS

    assert set(EXTENSIONS) == set(IMAGE_EXTENSIONS)
