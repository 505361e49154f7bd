"""The newcomer walk: the report command names a refused --out with quotes, as train does (the report's bars:
``tests/browser/test_report_bars.py``)."""

import pytest

from cae_sim import Pipeline
from cae_sim.cli import main


@pytest.fixture(scope="module")
def save(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("walk_report") / "m"
    Pipeline(encoder="phash", n_clusters=11, random_state=0).fit(data_dir).save(out)
    return out


def test_a_refused_out_is_named_in_quotes(save, tmp_path, capsys):
    foreign, plain = tmp_path / "my photos", tmp_path / "notes.txt"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    plain.write_text("mine")
    assert main(["report", str(save), "--out", str(foreign), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {str(foreign)!r} exists and is not a cae_sim report")
    assert main(["report", str(save), "--out", str(plain), "--quiet"]) == 2
    assert capsys.readouterr().err == f"error: {str(plain)!r} exists and is not a folder\n"
    assert (foreign / "keep.txt").read_text() == plain.read_text() == "mine"
