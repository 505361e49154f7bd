"""The command line's entry points: program names, --version, help, usage errors, and no TensorFlow for a typo."""

import argparse
import importlib.metadata
import os
import subprocess
import sys

import pytest

from cae_sim.cli import COMMANDS, main

PYTHON = os.path.basename(sys.executable)
VERSION = importlib.metadata.version("cae_sim")
NAMES = ["train", "query", "add", "remove", "duplicates", "report", "match", "verify", "relocate"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def test_every_command_is_a_module_of_the_cli_package():
    assert [module.__name__ for module in COMMANDS] == [f"cae_sim.cli.{name}" for name in NAMES]


@pytest.mark.parametrize("module", ["cae_sim", "cae_sim.train"])
def test_version_of_both_entry_points_is_the_installed_distributions(module):
    done = run("-m", module, "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"cae-sim {VERSION}\n", "")


def test_python_m_cae_sim_help_names_its_real_invocation_and_every_command():
    done = run("-m", "cae_sim", "--help")
    assert done.returncode == 0 and done.stdout.startswith(f"usage: {PYTHON} -m cae_sim ")
    assert "cae-sim" not in done.stdout
    listed = done.stdout.split("positional arguments:")[1].split("options:")[0].split()
    assert all(name in listed for name in NAMES)


def test_python_m_cae_sim_train_help_names_its_real_invocation():
    done = run("-m", "cae_sim.train", "--help")
    assert done.returncode == 0 and done.stdout.startswith(f"usage: {PYTHON} -m cae_sim.train ")
    assert "--out DIR" in done.stdout and "--list-encoders" in done.stdout


def test_the_cae_sim_script_names_itself():
    script = os.path.join(os.path.dirname(sys.executable), "cae-sim")
    if not os.path.isfile(script):
        pytest.skip("cae_sim is not installed with its script here")
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: cae-sim ")
    done = subprocess.run([script, "train", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: cae-sim train ")
    assert "Fit a pipeline on a folder of images, save it to --out" in " ".join(done.stdout.split())


@pytest.mark.parametrize("module", COMMANDS, ids=NAMES)
def test_every_argument_of_every_command_has_a_help_text(module):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    assert [action.dest for action in parser._actions if not action.help] == []


def test_a_command_help_has_its_description(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["verify", "--help"])
    assert exited.value.code == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "verify [-h] DIR" in printed
    assert "Check every file of a save against the hash its manifest recorded." in printed


@pytest.mark.parametrize("argv", [["query", "m", "i.jpg", "--bogus"], ["add", "m", "p", "--workers", "2", "--nope"]])
def test_a_mistyped_option_shows_its_commands_usage(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f" {argv[0]} [-h]" in err.splitlines()[0]  # the command's usage line, not the main parser's
    assert f"{argv[0]}: error: unrecognized arguments: {argv[-1]}" in err


def test_the_main_parser_says_which_command_is_unknown(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["qurey", "m", "i.jpg"])
    assert exited.value.code == 2
    assert "invalid choice: 'qurey'" in capsys.readouterr().err


def test_a_mistyped_folder_fails_before_tensorflow_loads(tmp_path):
    """Every command checks its paths first: none imports TensorFlow for a folder that is not there, and but for train
    and report (whose choices and defaults come from the library) none imports NumPy or scikit-learn either."""
    image = tmp_path / "image.jpg"
    image.write_bytes(b"not read")
    missing = str(tmp_path / "missing")
    light = [
        ["query", missing, str(image)],
        ["query", str(tmp_path), missing],
        ["add", missing, str(image)],
        ["add", str(tmp_path), str(image), missing],
        ["remove", missing, str(image)],
        ["duplicates", missing],
        ["duplicates", str(tmp_path), "--out", os.path.join(missing, "d.csv")],
        ["match", missing, str(tmp_path)],
        ["match", str(tmp_path), str(tmp_path), "--model", missing],
        ["verify", missing],
        ["relocate", missing, "/old", str(tmp_path)],
        ["relocate", str(tmp_path), "/old", missing],
    ]
    heavy = [["train", missing, "--out", str(tmp_path / "m")], ["report", missing]]
    script = (
        "import sys\n"
        "from cae_sim.cli import main\n"
        "def loaded(*names): return sorted(name for name in names if name in sys.modules)\n"
        f"print([main(argv) for argv in {light!r}], loaded('numpy', 'sklearn', 'tensorflow'))\n"
        f"print([main(argv) for argv in {heavy!r}], loaded('tensorflow', 'keras', 'cae_sim.pipeline'))\n"
    )
    done = run("-c", script)
    assert done.stdout.splitlines() == [f"{[2] * len(light)} []", f"{[2] * len(heavy)} []"], done.stderr
    errors = done.stderr.splitlines()
    assert len(errors) == len(light) + len(heavy)
    assert all(line.startswith("error: ") and "no such" in line and missing in line for line in errors)

