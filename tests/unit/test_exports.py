"""cae_sim.exports: the clusters and duplicates CSV files."""

import csv
import os
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cae_sim import Pipeline
from cae_sim._files import printable
from cae_sim.exports import duplicates_csv, write_clusters_csv, write_duplicates_csv
from conftest import smooth_image


@pytest.fixture(scope="module")
def on_files(data_dir):
    return Pipeline(encoder="phash", n_clusters=3, random_state=0).fit(data_dir)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_clusters_csv_has_one_row_per_image_in_the_collections_order(on_files, tmp_path):
    write_clusters_csv(on_files, tmp_path / "clusters.csv")
    header, *rows = read_rows(tmp_path / "clusters.csv")
    assert header == ["path", "cluster", "distance_to_center"]
    assert [row[0] for row in rows] == on_files.paths_ and all(os.path.isabs(row[0]) for row in rows)
    assert [int(row[1]) for row in rows] == on_files.labels_.tolist()
    np.testing.assert_allclose([float(row[2]) for row in rows], on_files.distance_to_center(), atol=1e-6)
    assert os.listdir(tmp_path) == ["clusters.csv"]  # no temporary file left


def test_clusters_csv_of_a_pipeline_fitted_on_an_array_has_empty_paths(tmp_path):
    pipeline = Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(np.stack([smooth_image(s) for s in range(5)]))
    write_clusters_csv(pipeline, tmp_path / "clusters.csv")
    rows = read_rows(tmp_path / "clusters.csv")[1:]
    assert [(row[0], int(row[1])) for row in rows] == [("", label) for label in pipeline.labels_.tolist()]


def test_duplicates_csv_numbers_the_groups_from_one():
    text = duplicates_csv([[0, 2], [1, 3]], ["/p/a.jpg", "/p/b.jpg", "/p/c.jpg", "/q/d,e.jpg"], [[1, 0.9], [0.75, 0.5]])
    assert text == ('group,index,path,score\n1,0,/p/a.jpg,1.000000\n1,2,/p/c.jpg,0.900000\n2,1,/p/b.jpg,0.750000\n'
                    '2,3,"/q/d,e.jpg",0.500000\n')
    assert duplicates_csv([[0, 1]], None, [[0.25, 0.25]]) == "group,index,path,score\n1,0,,0.250000\n1,1,,0.250000\n"
    assert duplicates_csv([], None, []) == "group,index,path,score\n"
    with pytest.raises(ValueError):
        duplicates_csv([[0, 1]], None, [[0.25]])  # a score for every image


def test_the_duplicates_file_is_the_text_and_a_failed_write_keeps_the_old_file(tmp_path):
    out = tmp_path / "duplicates.csv"
    write_duplicates_csv([[0, 1]], ["/a.jpg", "/b.jpg"], [[0.5, 0.5]], out)
    assert out.read_text(encoding="utf-8") == duplicates_csv([[0, 1]], ["/a.jpg", "/b.jpg"], [[0.5, 0.5]])
    with pytest.raises(IndexError):
        write_duplicates_csv([[0, 5]], ["/a.jpg"], [[0.5, 0.5]], out)  # fails after its first row
    assert out.read_text(encoding="utf-8") == "group,index,path,score\n1,0,/a.jpg,0.500000\n1,1,/b.jpg,0.500000\n"
    assert os.listdir(tmp_path) == ["duplicates.csv"]


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=12).filter(lambda name: b"/" not in name and b"\x00" not in name))
def test_a_file_name_of_any_bytes_is_written_exactly_and_shown_printably(name):
    path = "/photos/" + os.fsdecode(name)
    with tempfile.TemporaryDirectory() as folder:
        write_duplicates_csv([[0]], [path], [[1.0]], os.path.join(folder, "duplicates.csv"))
        with open(os.path.join(folder, "duplicates.csv"), newline="", encoding="utf-8", errors="surrogateescape") as file:
            assert list(csv.reader(file))[1] == ["1", "0", path, "1.000000"]
    shown = printable(path)
    shown.encode("utf-8")  # strict: never a UnicodeEncodeError
    assert shown.isprintable()
    try:
        readable = name.decode("utf-8").isprintable()
    except UnicodeDecodeError:
        readable = False
    assert shown == path if readable else "\\" in shown
