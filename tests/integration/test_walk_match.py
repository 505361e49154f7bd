"""The newcomer walk: match's summary gives the number of matches each target really got ("top 15 each" and
"Top-1 … Top-1" for a source of one image)."""

import shutil

from cae_sim import Pipeline
from cae_sim.cli import main


def test_a_single_source_file_says_top_1_not_the_default_15(tmp_path, data_dir, capsys):
    target = tmp_path / "target"
    target.mkdir()
    shutil.copy(data_dir / "rocket.jpg", target / "rocket.jpg")
    shutil.copy(data_dir / "coffee.jpg", target / "coffee.jpg")
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(data_dir).save(tmp_path / "m")
    out = tmp_path / "m.csv"
    assert main(["match", str(data_dir / "rocket.jpg"), str(target), "--model", str(tmp_path / "m"), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"targets matched: 2 (top 1 each) -> {out}\n")
    assert printed.endswith(f"\nTop-1 in {tmp_path / 'm_accuracy.csv'}\n")
