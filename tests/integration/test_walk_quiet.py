"""The newcomer walk: --quiet turns progress off, and its absence turns it on, whatever the save recorded.

A save keeps the verbosity of the run that trained it; ``add --quiet`` on a save trained without ``--quiet``
drew its progress bar all the same (and ``match --model DIR --quiet`` too).
"""

import shutil

import pytest

from cae_sim import Pipeline
from cae_sim.cli import main


@pytest.fixture
def photos(tmp_path, data_dir):
    """data/'s photos split in two folders: eight to train on, four to add."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    for i, path in enumerate(sorted(data_dir.glob("*.jpg"))):
        shutil.copy(path, (first if i < 8 else second) / path.name)
    return first, second


def save(folder, out, verbose):
    Pipeline(encoder="phash", n_clusters=2, random_state=0, verbose=verbose).fit(folder).save(out)
    return out


@pytest.mark.parametrize("trained_verbose", [0, 1])
def test_add_draws_progress_exactly_when_not_quiet(photos, tmp_path, capsys, trained_verbose):
    first, second = photos
    model = save(first, tmp_path / "m", trained_verbose)
    capsys.readouterr()
    assert main(["add", str(model), str(second), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert "added:         4" in quiet.out and quiet.err == ""
    assert main(["remove", str(model), *(str(path) for path in sorted(second.iterdir()))]) == 0
    capsys.readouterr()
    assert main(["add", str(model), str(second)]) == 0
    shown = capsys.readouterr()
    assert "added:         4" in shown.out and "encoding 4/4 [" in shown.err


def test_match_with_a_save_and_quiet_prints_nothing_on_stderr(photos, tmp_path, capsys):
    first, second = photos
    model = save(first, tmp_path / "m", verbose=1)
    capsys.readouterr()
    assert main(["match", str(first), str(second), "--model", str(model), "--out", str(tmp_path / "m.csv"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
