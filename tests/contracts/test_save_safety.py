"""A save is a closed box with one writer: crafted files and manifests give clear errors, an interrupted swap is
recovered, two writers never lose data, and a SIGKILL at any moment leaves a save that loads."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cae_sim import Pipeline
from cae_sim.persistence import MANIFEST, lock_file, writing
from cae_sim.persistence.manifest import describe_files
from conftest import TESTS, smooth_image, write_image

#: What a child process that loads a crafted save may use.
CHILD_MEMORY = 4 << 30


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.stack([smooth_image(seed + i, 16, 16) for i in range(n)])


@pytest.fixture()
def saved(tmp_path):
    directory = tmp_path / "model"
    Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(images(8)).save(directory)
    return directory


def redescribe(root: Path, edit=lambda manifest: None) -> None:
    """Rewrite the files table to match the files as they are now (a crafted save is consistent), then ``edit``."""
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["files"] = describe_files(root)
    edit(manifest)
    (root / MANIFEST).write_text(json.dumps(manifest))


def load_in_child(directory: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Load and query a save in a child process with bounded memory and time; it prints the outcome's type."""
    code = (
        "import sys, numpy as np; from cae_sim import Pipeline\n"
        "try:\n"
        "    p = Pipeline.load(sys.argv[1]); p.duplicates(); p.query(np.zeros((16, 16, 3), np.uint8), n=2)\n"
        "    print('loaded')\n"
        "except (ValueError, OSError) as error:\n"
        "    print(type(error).__name__, error)\n"
    )

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))

    return subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit)


# ---------------------------------------------------------------- only regular files inside the save


@pytest.mark.slow
def test_a_fifo_in_place_of_a_listed_file_is_refused_without_waiting(saved):
    (saved / "labels.npy").unlink()
    os.mkfifo(saved / "labels.npy")
    done = load_in_child(saved, timeout=60)
    assert done.stdout.startswith("ValueError") and "labels.npy is not a regular file" in done.stdout, done.stderr


@pytest.mark.parametrize("name", ["labels.npy", "paths.json", "clustering/cluster_centers.npy"])
def test_a_listed_file_linked_to_dev_zero_is_refused(tmp_path, data_dir, name):
    directory = tmp_path / "model"
    Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(data_dir).save(directory)
    (directory / name).unlink()
    (directory / name).symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=f"{name} is not a regular file"):
        Pipeline.load(directory)


def test_a_folder_of_the_save_linked_outside_is_refused(saved, tmp_path):
    shutil.move(saved / "clustering", tmp_path / "elsewhere")
    (saved / "clustering").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="lies in a linked folder"):
        Pipeline.load(saved)


# ---------------------------------------------------------------- declared sizes are not trusted


@pytest.mark.slow
def test_an_npy_header_declaring_two_to_the_forty_values_allocates_nothing(saved):
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**40, 64)}
    with open(saved / "codes.npy", "wb") as file:
        np.lib.format.write_array_header_2_0(file, header)
        file.write(np.zeros(64, np.float32).tobytes())
    redescribe(saved)
    done = load_in_child(saved)
    assert done.stdout.startswith("ValueError") and "which its header's <f4 (1099511627776, 64) does not fill" in done.stdout, done.stderr


def test_labels_that_name_no_cluster_are_refused(saved):
    np.save(saved / "labels.npy", np.full(8, 2**40, np.int64))
    redescribe(saved)
    with pytest.raises(ValueError, match=r"cluster labels must be ints in \[0, 2\)"):
        Pipeline.load(saved)


def test_one_dimensional_cluster_centres_are_refused(saved):
    np.save(saved / "clustering" / "cluster_centers.npy", np.zeros(64, np.float32))
    redescribe(saved)
    with pytest.raises(ValueError, match="cluster_centers must be a non-empty 2-d numeric array"):
        Pipeline.load(saved)


def test_arrays_of_objects_are_refused(saved):
    np.save(saved / "labels.npy", np.array([1, "x"] * 4, dtype=object), allow_pickle=True)
    redescribe(saved)
    with pytest.raises(ValueError, match="labels.npy holds |O arrays, which a save does not"):
        Pipeline.load(saved)


def test_a_hash_size_that_would_allocate_gigabytes_is_refused_on_load(saved):
    redescribe(saved, lambda manifest: manifest["model"]["encoder"]["config"].update(hash_size=20_000))
    with pytest.raises(ValueError, match="hash_size must be an int <= 64, got 20000"):
        Pipeline.load(saved)


def test_a_manifest_nested_two_hundred_thousand_deep_is_a_damaged_save(saved):
    (saved / MANIFEST).write_text('{"format": "cae_sim.pipeline", "deep": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(ValueError, match="manifest.json cannot be read"):
        Pipeline.load(saved)


@pytest.mark.slow
def test_mutated_saves_load_or_say_what_is_wrong_in_bounded_memory_and_time(saved, tmp_path):
    work = tmp_path / "mutants"
    work.mkdir()

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))

    done = subprocess.run([sys.executable, str(TESTS / "save_mutations.py"), str(saved), str(work), "200"],
                          capture_output=True, text=True, timeout=600, preexec_fn=limit)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout[-3000:] + done.stderr[-3000:]


# ---------------------------------------------------------------- an interrupted swap


def test_a_save_between_the_two_renames_is_recovered_as_the_new_one(saved, tmp_path):
    newer = tmp_path / "newer"
    Pipeline(encoder="dhash", n_clusters=3, random_state=0).fit(images(9, seed=50)).save(newer)
    saved.rename(saved.with_name(".model.old-0001"))  # the first rename happened
    newer.rename(saved.with_name(".model.partial-0002"))  # the second did not
    loaded = Pipeline.load(saved)
    assert len(loaded.codes_) == 9 and loaded.n_clusters_ == 3
    assert sorted(path.name for path in saved.parent.iterdir() if path.name.startswith(".model.")) == [".model.lock"]


def test_a_save_whose_new_copy_was_not_complete_is_recovered_as_the_old_one(saved):
    saved.rename(saved.with_name(".model.old-0001"))
    (saved.with_name(".model.partial-0002")).mkdir()  # no manifest: never finished
    assert len(Pipeline.load(saved).codes_) == 8
    assert not list(saved.parent.glob(".model.partial-*")) and not list(saved.parent.glob(".model.old-*"))


def test_stale_leftovers_beside_a_good_save_are_removed_on_the_next_load(saved):
    shutil.copytree(saved, saved.with_name(".model.partial-0003"))
    shutil.copytree(saved, saved.with_name(".model.old-0004"))
    Pipeline.load(saved)
    assert not list(saved.parent.glob(".model.partial-*")) and not list(saved.parent.glob(".model.old-*"))


# Fits two pipelines once, then for each delay read from stdin forks a child that saves them in turn, endlessly, and
# SIGKILLs it after that delay: one interpreter start for every kill.
SAVER = """
import os, signal, sys, time, numpy as np
from cae_sim import Pipeline
sys.path.insert(0, sys.argv[2])
from conftest import smooth_image
small = Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(np.stack([smooth_image(i, 16, 16) for i in range(6)]))
large = Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(np.stack([smooth_image(i, 16, 16) for i in range(9)]))
for line in sys.stdin:
    child = os.fork()
    if child == 0:
        while True:
            small.save(sys.argv[1])
            large.save(sys.argv[1])
    time.sleep(float(line))
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    print("killed", flush=True)
"""


@pytest.mark.slow
def test_a_sigkill_at_any_moment_of_saving_leaves_a_save_that_loads(tmp_path):
    directory = tmp_path / "model"
    saver = subprocess.Popen([sys.executable, "-c", SAVER, str(directory), str(TESTS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for delay in np.random.default_rng(0).uniform(0.05, 0.6, size=8):
            saver.stdin.write(f"{delay}\n")
            saver.stdin.flush()
            assert saver.stdout.readline().strip() == "killed"
            if directory.exists() or list(tmp_path.glob(".model.*-*")):
                assert len(Pipeline.load(directory).codes_) in (6, 9)
        assert directory.exists()
    finally:
        saver.kill()
        saver.wait()


# ---------------------------------------------------------------- one writer


@pytest.mark.slow
def test_a_second_writer_waits_for_the_lock_then_names_its_holder(saved):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from cae_sim.persistence import writing\n"
                               "with writing(sys.argv[1]):\n    print('held', flush=True); time.sleep(30)", str(saved)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(OSError, match=rf"being written by another process \(pid {holder.pid}\); waited 0.5 s"):
            with writing(saved, timeout=0.5):
                pass
        assert time.monotonic() - started >= 0.5
        assert len(Pipeline.load(saved).codes_) == 8  # readers do not wait
    finally:
        holder.kill()
        holder.wait()
    with writing(saved, timeout=5):  # free again once the holder is gone
        with writing(saved, timeout=0):  # and re-entrant within a process
            Pipeline.load(saved).save(saved)
    assert lock_file(saved).is_file()


ADDER = """
import sys
from cae_sim import Pipeline
from cae_sim.persistence import writing
with writing(sys.argv[1]):
    pipeline = Pipeline.load(sys.argv[1])
    pipeline.add(sys.argv[2])
    pipeline.save(sys.argv[1])
"""


@pytest.mark.slow
def test_two_concurrent_adds_keep_both_folders(tmp_path):
    folders = {name: tmp_path / name for name in ("first", "a", "b")}
    for offset, folder in enumerate(folders.values()):
        folder.mkdir()
        for i in range(20):
            write_image(folder / f"{i}.png", smooth_image(100 * offset + i, 24, 24))
    Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(folders["first"]).save(tmp_path / "model")
    adders = [subprocess.Popen([sys.executable, "-c", ADDER, str(tmp_path / "model"), str(folders[name])]) for name in "ab"]
    assert [adder.wait(timeout=300) for adder in adders] == [0, 0]
    paths = set(Pipeline.load(tmp_path / "model").paths_)
    assert len(paths) == 60 and {str(folders["b"] / "3.png"), str(folders["a"] / "7.png")} <= paths


def test_an_input_size_that_would_allocate_gigabytes_is_refused_on_load(tmp_path, data_dir):
    directory = tmp_path / "model"
    Pipeline(encoder="efficientnet_lite0", n_clusters=2, random_state=0).fit([data_dir / "coffee.jpg", data_dir / "rocket.jpg"]).save(directory)
    redescribe(directory, lambda manifest: manifest["model"]["encoder"]["config"].update(input_size=40_000))
    with pytest.raises(ValueError, match="input_size must be an int <= 1024, got 40000"):
        Pipeline.load(directory)
