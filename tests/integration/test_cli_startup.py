"""How the commands start: no TensorFlow for a LiteRT save or a typo, a quiet TensorFlow when it does load, and
several queries in one call."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from cae_sim import Pipeline, PretrainedEncoder
from cae_sim.cli import main

IMAGES = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg", "brick.jpg")


def run_python(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh Python process; its status, standard output and standard error."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def lite_save(tmp_path_factory, data_dir):
    """A save of a pipeline whose encoder (efficientnet_lite0) runs on LiteRT."""
    pipeline = Pipeline(encoder=PretrainedEncoder(model="efficientnet_lite0"), n_clusters=2, random_state=0)
    pipeline.fit([str(data_dir / name) for name in IMAGES])
    out = tmp_path_factory.mktemp("lite") / "save"
    pipeline.save(out)
    return out


@pytest.fixture(scope="module")
def lite_query(lite_save, data_dir):
    """A child process's ``query`` of one image on ``lite_save``, and the heavy modules it had loaded after."""
    script = (
        "import sys\n"
        "from cae_sim.cli import main\n"
        f"status = main(['query', {str(lite_save)!r}, {str(data_dir / 'rocket.jpg')!r}, '-n', '2'])\n"
        "print(status, sorted({'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    return run_python(script)


@pytest.mark.slow
def test_a_query_on_a_litert_save_does_not_import_tensorflow(lite_query, data_dir):
    assert lite_query.returncode == 0, lite_query.stderr
    *printed, modules = lite_query.stdout.splitlines()
    assert modules == "0 []"
    assert printed[0] == f"query: {data_dir / 'rocket.jpg'}" and printed[2].endswith("rocket.jpg")


@pytest.mark.slow
def test_a_query_on_a_litert_save_writes_nothing_to_stderr(lite_query):
    assert lite_query.stderr == ""


@pytest.mark.slow
def test_add_duplicates_report_and_remove_on_a_litert_save_do_not_import_tensorflow(lite_save, data_dir, tmp_path):
    save = tmp_path / "save"
    shutil.copytree(lite_save, save)
    commands = [
        ["add", str(save), str(data_dir / "coins.jpg"), "--quiet"],
        ["duplicates", str(save)],
        ["report", str(save), "--out", str(tmp_path / "report"), "--quiet"],
        ["remove", str(save), str(data_dir / "coins.jpg")],
    ]
    script = (
        "import sys\n"
        "from cae_sim.cli import main\n"
        f"statuses = [main(arguments) for arguments in {commands!r}]\n"
        "print(statuses, sorted({'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    done = run_python(script)
    assert done.stdout.splitlines()[-1] == "[0, 0, 0, 0] []", done.stderr
    assert (tmp_path / "report" / "index.html").is_file()
    assert str(data_dir / "coins.jpg") not in Pipeline.load(save).paths_


def test_a_mistyped_save_folder_exits_2_with_one_line_before_numpy_or_tensorflow_load(data_dir):
    script = (
        "import sys\n"
        "from cae_sim.cli import main\n"
        f"status = main(['query', 'no/such/dir', {str(data_dir / 'chelsea.jpg')!r}])\n"
        "print(status, sorted({'numpy', 'tensorflow'} & set(sys.modules)))\n"
    )
    done = run_python(script)
    assert done.stdout == "2 []\n"
    assert done.stderr == "error: no such folder: 'no/such/dir'\n"


def parse(text: str, output_format: str) -> list[tuple[str, int, str, float]]:
    """(query, rank, path, score) of each printed match."""
    if output_format == "json":
        rows = json.loads(text)
    elif output_format == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        rows = []
        for table in text.split("\n\n"):
            query_line, _, *lines = table.splitlines()
            for line in lines:
                rank, score, _, path = line.split(None, 3)
                rows.append({"query": query_line.removeprefix("query: "), "rank": rank, "path": path, "score": score})
    return [(row["query"], int(row["rank"]), row["path"], float(row["score"])) for row in rows]


@pytest.mark.slow
@pytest.mark.parametrize("output_format", ["text", "csv", "json"])
def test_one_query_of_two_images_and_a_folder_names_the_query_of_each_match(lite_save, data_dir, tmp_path, capsys, output_format):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("grass.jpg", "coins.jpg"):
        shutil.copy(data_dir / name, folder)
    given = [str(data_dir / "rocket.jpg"), str(data_dir / "camera.jpg"), str(folder)]
    queries = [*given[:2], str(folder / "coins.jpg"), str(folder / "grass.jpg")]
    pipeline = Pipeline.load(lite_save)
    expected = [(query, rank, m.path, m.score) for query in queries for rank, m in enumerate(pipeline.query(query, n=3), 1)]
    assert main(["query", str(lite_save), *given, "-n", "3", "--format", output_format]) == 0
    printed = parse(capsys.readouterr().out, output_format)
    assert [row[:3] for row in printed] == [row[:3] for row in expected]
    assert [row[3] for row in printed] == pytest.approx([row[3] for row in expected], abs=1e-4)


def test_an_unreadable_query_image_is_a_warning_and_none_readable_is_status_2(tmp_path, data_dir, capsys):
    images = [str(data_dir / name) for name in IMAGES]
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(images).save(tmp_path / "m")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    assert main(["query", str(tmp_path / "m"), str(broken), images[0], "-n", "1", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert [row[:3] for row in parse(captured.out, "csv")] == [(images[0], 1, images[0])]
    assert captured.err == f"warning: skipped {broken}: not a decodable image\n"
    empty, broken = tmp_path / "empty", tmp_path / "other.jpg"  # another file: Python shows a warning once
    empty.mkdir()
    broken.write_bytes(b"no image either")
    assert main(["query", str(tmp_path / "m"), str(broken), str(empty)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"warning: skipped {broken}: not a decodable image",
        f"warning: no image files (.bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp) in folder {str(empty)!r}",
        f"error: no image could be read from {str(broken)!r}, {str(empty)!r}",
    ]


@pytest.mark.slow
def test_the_first_import_of_tensorflow_in_a_command_process_writes_nothing_to_stderr():
    script = (
        "import os, sys\n"
        "from cae_sim._startup import _ImportHook, prepare_command_process\n"
        "prepare_command_process()\n"
        "prepare_command_process()\n"
        "print(sum(isinstance(finder, _ImportHook) for finder in sys.meta_path))\n"
        "import tensorflow as tf\n"
        "os.write(2, b'after the import\\n')\n"
        "print(int(tf.constant(1)), type(tf.__loader__).__name__, any(isinstance(f, _ImportHook) and f.name == 'tensorflow' for f in sys.meta_path))\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    done = run_python(script, env)
    assert done.stderr == "after the import\n"  # the import and its device look-up wrote nothing; fd 2 is back
    assert done.stdout.splitlines() == ["2", "1 SourceFileLoader False"]  # one hook each for TensorFlow and LiteRT
