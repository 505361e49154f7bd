"""The newcomer walk: match's summary counts its targets in proper English ("1 target has", not "1 targets have")."""

import shutil

from cae_sim import Pipeline
from cae_sim.cli import main


def test_one_unpaired_target_is_one_target(tmp_path, data_dir, capsys):
    source, target = tmp_path / "source", tmp_path / "target"
    shutil.copytree(data_dir, source, ignore=shutil.ignore_patterns("*.md"))
    target.mkdir()
    shutil.copy(data_dir / "rocket.jpg", target / "rocket.jpg")
    shutil.copy(data_dir / "coffee.jpg", target / "coffee.jpg")
    shutil.copy(data_dir / "brick.jpg", target / "unnamed.jpg")
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(source).save(tmp_path / "m")
    args = ["match", str(source), str(target), "--model", str(tmp_path / "m"), "--top", "3", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "one.csv")]) == 0
    assert "paired by name:  2 (1 target has no same-named source)\n" in capsys.readouterr().out
    shutil.copy(data_dir / "gravel.jpg", target / "other.jpg")
    assert main([*args, "--out", str(tmp_path / "two.csv")]) == 0
    assert "paired by name:  2 (2 targets have no same-named source)\n" in capsys.readouterr().out
