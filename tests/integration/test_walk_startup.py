"""The newcomer walk: every command answers a mistyped path at once.

``train`` and ``report`` imported scikit-learn to parse their arguments (the names ``--clustering`` and ``--metric``
take, the report's defaults): 3–4 s on a busy 2-core machine before "no such folder"; ``train`` refused an --out
holding a save or other files only after loading scikit-learn too, and ``report`` an --out holding other files
only after loading the save.
"""

import subprocess
import sys

import pytest

from cae_sim.cli import train

HEAVY = ("sklearn", "jinja2", "tensorflow", "keras")


@pytest.mark.parametrize("command", [["train", "nosuch", "--out", "out"], ["report", "nosuch"], ["train", "--help"],
                                     ["report", "--help"], ["train", ".", "--out", "save"], ["train", ".", "--out", "."],
                                     ["report", "save", "--out", "."]])
def test_parsing_a_command_imports_nothing_heavy(tmp_path, command):
    (tmp_path / "save").mkdir()
    (tmp_path / "save" / "manifest.json").write_text("{}")  # a save, as far as train's refusal looks
    script = (
        "import sys\n"
        "from cae_sim.cli import main\n"
        f"try:\n    status = main({command!r})\nexcept SystemExit as exit:\n    status = exit.code\n"
        f"print(status, sorted(name for name in {HEAVY!r} if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.stdout.splitlines()[-1] == f"{0 if '--help' in command else 2} []"


def test_the_choices_written_out_are_the_registries():
    from cae_sim.clustering import CLUSTERINGS
    from cae_sim.index import METRICS

    from cae_sim.persistence import MANIFEST

    assert train.CLUSTERINGS == tuple(CLUSTERINGS) and train.METRICS == tuple(METRICS) and train.MANIFEST == MANIFEST
