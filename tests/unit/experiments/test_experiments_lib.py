"""The shared library of experiments/ (experiments/benchlib.py): memory in MB, degradations, results with provenance."""

import ast
import json
import mmap
import re
import sys
import time

import numpy as np
import pytest

from conftest import ROOT

EXPERIMENTS = ROOT / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import benchlib  # noqa: E402
import copy_detection  # noqa: E402
import copy_set  # noqa: E402

from cae_sim.augment import jpeg_roundtrip  # noqa: E402
from cae_sim.calibration import make_copy  # noqa: E402


def photo(height=61, width=47, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- memory


def test_memory_is_in_mb_of_a_million_bytes():
    assert benchlib.MB == 10**6
    assert benchlib.bytes_to_mb(3 * 10**6) == 3
    assert benchlib.kib_to_mb(1000) == pytest.approx(1.024)


def test_proc_status_fields_are_read_in_mb(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmHWM:\t  2000000 kB\nVmRSS:\t  1000000 kB\n")
    assert benchlib.proc_status_mb("VmRSS", "VmHWM", status=str(status)) == {"VmRSS": 1024.0, "VmHWM": 2048.0}
    with pytest.raises(KeyError, match="RssAnon"):
        benchlib.proc_status_mb("VmRSS", "RssAnon", status=str(status))


def test_this_process_memory_agrees_between_proc_and_getrusage():
    now, peak = benchlib.rss_mb(), benchlib.rss_mb("VmHWM")
    assert 10 < now <= peak
    assert benchlib.max_rss_mb() == pytest.approx(peak, rel=0.05)


def test_peak_rss_sees_memory_held_only_inside_the_block():
    with benchlib.PeakRss(interval=0.005) as rss:
        before = benchlib.rss_mb()
        held = mmap.mmap(-1, 64 * 10**6)  # 64 MB of fresh pages (malloc may reuse pages a long process holds)
        held.write(b"\x01" * len(held))  # touched: resident
        during = benchlib.rss_mb()
        time.sleep(0.1)  # many samples while it is held
        held.close()
    assert during - before > 50
    assert rss.peak_mb >= during - 10


def test_no_experiment_converts_memory_on_its_own():
    """Every memory figure goes through benchlib's MB: no KiB or MiB arithmetic left in the scripts."""
    own = re.compile(r"2\s*\*\*\s*20|ru_maxrss\s*\*|ru_maxrss\s*/|/ 1e6|\* 1024 / ")
    found = [f"{path.name}:{number}" for path in sorted(EXPERIMENTS.glob("*.py"))
             if path.name not in {"benchlib.py", "memory_mb.py", "concurrent_adds.py"}
             for number, line in enumerate(path.read_text().splitlines(), 1) if own.search(line)]
    assert found == []


# --------------------------------------------------------------------------- degradations


@pytest.mark.parametrize("size", [(61, 47), (15, 25), (224, 224), (5, 9)])
def test_centre_crop_at_80_percent_is_the_librarys_crop80_copy(size):
    image = photo(*size)
    expected = make_copy(image, "crop80", np.random.default_rng(0))
    np.testing.assert_array_equal(benchlib.centre_crop(image, 0.8), expected)


def test_centre_crop_keeps_the_centre():
    image = photo(100, 200)
    assert benchlib.centre_crop(image, 0.9).shape == (90, 180, 3)
    np.testing.assert_array_equal(benchlib.centre_crop(image, 0.9), image[5:95, 10:190])


def test_jpeg_is_the_librarys_roundtrip_and_keeps_colours_in_rgb_order():
    image = photo()
    np.testing.assert_array_equal(benchlib.jpeg(image, 30), jpeg_roundtrip(image, 30))
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 220
    assert benchlib.jpeg(red, 10)[..., 0].mean() > 200
    assert copy_detection.jpeg_q10(red, None)[..., 0].mean() > 200  # it encoded RGB as if BGR before


def test_down_up_and_hflip_keep_the_size():
    image = photo()
    assert benchlib.down_up(image, (12, 15)).shape == image.shape
    np.testing.assert_array_equal(benchlib.hflip(image), image[:, ::-1])
    assert benchlib.hflip(image).flags.c_contiguous


@pytest.mark.parametrize("degradations", [copy_detection.DEGRADATIONS, copy_set.DEGRADATIONS])
def test_every_degradation_gives_an_rgb_uint8_image(degradations):
    image = photo(80, 120)
    for name, degrade in degradations.items():
        out = degrade(image, np.random.default_rng(0))
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, name


def test_the_scripts_share_one_sepia_matrix():
    assert not hasattr(copy_detection, "SEPIA") and not hasattr(copy_set, "SEPIA")
    gray = np.full((4, 4, 3), 100, np.uint8)
    assert benchlib.sepia_tone(gray)[0, 0] == pytest.approx(100 * benchlib.SEPIA.sum(axis=1), rel=1e-5)


# --------------------------------------------------------------------------- results


def test_a_row_measured_now_records_the_commit_and_the_uncommitted_state():
    row = benchlib.stamp({"method": "m", "acc": 0.5})
    assert row["measured_at"] == {"commit": benchlib.SOURCE["commit"],
                                  "cae_sim_uncommitted": bool(benchlib.SOURCE["uncommitted_cae_sim_files"])}
    assert re.fullmatch(r"[0-9a-f]{40}", row["measured_at"]["commit"])


def test_kept_rows_keep_their_own_stamp_or_say_none_was_recorded():
    old = {"method": "a", "measured_at": {"commit": "0" * 40, "cae_sim_uncommitted": True}}
    legacy = {"method": "b"}
    assert benchlib.kept_rows([old, legacy]) == [old, {"measured_at": None, "method": "b"}]
    assert benchlib.kept_rows({"x": legacy})["x"]["measured_at"] is None


def test_a_results_file_records_the_source(tmp_path, monkeypatch):
    monkeypatch.setattr(benchlib, "RESULTS", tmp_path)
    path = benchlib.write_results("demo", measured=[benchlib.stamp({"method": "m"})])
    record = json.loads(path.read_text())
    assert isinstance(record["source_when_imported"]["cae_sim_uncommitted"], bool)
    assert record["measured"][0]["measured_at"]["commit"] == record["source_when_imported"]["commit"]


# --------------------------------------------------------------------------- no patched internals


def test_no_experiment_calls_or_patches_a_private_member_of_cae_sim():
    """``x._name`` on objects of cae_sim (Pipeline, indexes, encoders) is not used by the experiments' scripts."""
    allowed = {"_asdict", "_replace", "_fields", "_core", "_reconstruct", "_exit"}  # NamedTuple's API, NumPy's pickles, os._exit
    found = []
    for path in sorted(EXPERIMENTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and node.attr not in allowed
                    and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})):
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert found == []
