"""The newcomer walk: docs/cli.md shows each command's ``--help`` exactly as ``cae-sim COMMAND --help`` prints it
(in a terminal 100 columns wide), and the main ``--help`` says where a command's options are.

The page's blocks had been written under another program name: every usage line's continuation was indented for
``python -m cae_sim COMMAND``, and changed options (``match --seed N``) lagged behind.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

import cae_sim.cli as cli

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def help_text(monkeypatch, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(cli, "invocation", lambda: "cae-sim")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit:
        cli.main([*args, "--help"])
    assert exit.value.code == 0
    return out.getvalue()


@pytest.mark.parametrize("module", cli.COMMANDS, ids=lambda module: module.__name__.rpartition(".")[2])
def test_each_help_block_of_the_page_is_the_commands_help(monkeypatch, module):
    name = module.__name__.rpartition(".")[2]
    block = re.search(rf"^### {name}\n\n```text\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S | re.M)
    assert block, f"docs/cli.md has no help block for {name}"
    assert block.group(1) == help_text(monkeypatch, name)


def test_the_main_help_says_how_to_see_a_commands_options(monkeypatch):
    assert help_text(monkeypatch).rstrip().endswith("'cae-sim COMMAND --help' lists a command's options.")
