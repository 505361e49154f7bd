"""The newcomer walk: ``add`` of files none of which can be read fails as ``query`` does (status 2, one error line),
instead of "added: 0" and status 0 that a script cannot tell from success."""

import shutil

from cae_sim import Pipeline
from cae_sim.cli import main


def test_adding_only_unreadable_files_is_status_2_and_changes_nothing(tmp_path, data_dir, capsys):
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(data_dir).save(tmp_path / "m")
    before = (tmp_path / "m" / "manifest.json").read_bytes()
    empty, text = tmp_path / "empty.jpg", tmp_path / "notes.png"
    empty.write_bytes(b"")
    text.write_text("not an image")
    assert main(["add", str(tmp_path / "m"), str(empty), str(text), "--quiet"]) == 2
    printed = capsys.readouterr()
    assert "added:         0\nalready there: 0\nskipped:       2\n" in printed.out
    assert printed.err == f"error: no image could be read from {str(empty)!r}, {str(text)!r}\n"
    assert (tmp_path / "m" / "manifest.json").read_bytes() == before


def test_a_known_image_beside_an_unreadable_one_is_still_success(tmp_path, data_dir, capsys):
    photos = tmp_path / "photos"
    shutil.copytree(data_dir, photos, ignore=shutil.ignore_patterns("*.md"))
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(photos).save(tmp_path / "m")
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert main(["add", str(tmp_path / "m"), str(photos / "rocket.jpg"), str(tmp_path / "empty.jpg"), "--quiet"]) == 0
    assert "added:         0\nalready there: 1\nskipped:       1\n" in capsys.readouterr().out
