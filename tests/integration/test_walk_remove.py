"""The newcomer walk: ``remove DIR FOLDER`` takes out the save's images in the folder, as ``add DIR FOLDER`` put
them in (it answered "not in the collection: FOLDER")."""

import csv
import shutil

from cae_sim import Pipeline
from cae_sim.cli import main


def test_remove_a_folder_undoes_adding_it(tmp_path, data_dir, capsys):
    first, second = tmp_path / "photos", tmp_path / "photos" / "more"
    second.mkdir(parents=True)
    for i, path in enumerate(sorted(data_dir.glob("*.jpg"))):
        shutil.copy(path, (first if i < 8 else second) / path.name)
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(sorted(map(str, first.glob("*.jpg")))).save(tmp_path / "m")
    model = str(tmp_path / "m")
    assert main(["add", model, str(second), "--quiet"]) == 0
    assert len(Pipeline.load(model).paths_) == 12
    capsys.readouterr()
    assert main(["remove", model, str(second)]) == 0
    assert capsys.readouterr().out == f"removed:       4\nimages now:    8 in {model}\n"
    paths = Pipeline.load(model).paths_
    assert sorted(paths) == sorted(str(path) for path in first.glob("*.jpg"))
    with open(tmp_path / "m" / "clusters.csv", encoding="utf-8") as file:
        assert [row["path"] for row in csv.DictReader(file)] == paths


def test_a_folder_without_images_of_the_save_is_one_error_and_removes_nothing(tmp_path, data_dir, capsys):
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(data_dir).save(tmp_path / "m")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(data_dir / "rocket.jpg", elsewhere / "rocket.jpg")  # same name, other folder: not the save's file
    assert main(["remove", str(tmp_path / "m"), str(data_dir / "coffee.jpg"), str(elsewhere)]) == 2
    assert capsys.readouterr().err == f"error: no image of the save is in folder {str(elsewhere)!r}\n"
    assert len(Pipeline.load(tmp_path / "m").paths_) == 12
