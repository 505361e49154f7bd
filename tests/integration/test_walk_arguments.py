"""The newcomer walk: a file given where a folder belongs is called a file ("no such folder" sent the user looking
for a typo in a path that exists), and a folder given where an output file belongs is refused at once."""

import pytest

from cae_sim.cli import main


@pytest.mark.parametrize("command", [["train", "{file}", "--out", "{tmp}/m"], ["query", "{file}", "{file}"],
                                     ["report", "{file}", "--out", "{tmp}/r"], ["verify", "{file}"]])
def test_a_file_where_a_folder_belongs_is_named_a_file(tmp_path, data_dir, capsys, command):
    file = str(data_dir / "rocket.jpg")
    assert main([word.format(file=file, tmp=tmp_path) for word in command]) == 2
    assert capsys.readouterr().err == f"error: not a folder: {file!r} is a file\n"


def test_a_missing_folder_is_still_no_such_folder(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "typo")]) == 2
    assert capsys.readouterr().err == f"error: no such folder: {str(tmp_path / 'typo')!r}\n"


@pytest.mark.parametrize("command", [["duplicates", "{data}", "--out", "{tmp}"],
                                     ["match", "{data}", "{data}", "--out", "{tmp}"]])
def test_a_folder_where_an_output_file_belongs_is_refused_before_anything_runs(tmp_path, data_dir, capsys, command):
    """It was '[Errno 21] Is a directory: 'rep.e3c39d67dadc.tmp' -> 'rep'' after loading the save (duplicates), or
    after training on the source (match)."""
    assert main([word.format(data=data_dir, tmp=tmp_path) for word in command]) == 2
    assert capsys.readouterr().err == f"error: cannot write {str(tmp_path)!r}: it is a folder; name a file\n"
