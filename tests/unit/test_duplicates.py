import csv
import io
import itertools
import shutil
import sys

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.sparse.csgraph import connected_components
from sklearn.exceptions import NotFittedError

from cae_sim import Pipeline
from cae_sim.__main__ import main as cae_sim_main
from cae_sim.collection import Collection
from cae_sim.duplicates import duplicate_groups
from cae_sim.index import INDEXES, ExactIndex
from conftest import ROOT, smooth_image, write_image

sys.path.insert(0, str(ROOT / "experiments"))

from near_duplicates import pair_scores  # noqa: E402

#: Thresholds each metric takes, as (lowest, highest, lowest excluded).
THRESHOLDS = {"cosine": (-1.0, 1.0, False), "euclidean": (0.0, 1.0, True), "hamming": (0.0, 1.0, True)}


def brute_force_similarities(codes: np.ndarray, metric: str) -> np.ndarray:
    """Every pair's score from its definition, in float64."""
    codes = codes.astype(np.float64)
    if metric == "cosine":
        unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
        return unit @ unit.T
    if metric == "hamming":
        bits = codes > 0
        return (bits[:, None, :] == bits[None, :, :]).mean(axis=2)
    return 1 / (1 + np.linalg.norm(codes[:, None, :] - codes[None, :, :], axis=2))


def brute_force_groups(similarities: np.ndarray, threshold: float) -> list[list[int]]:
    """Connected components of two or more of the full graph of pairs at or above the threshold."""
    _, labels = connected_components(similarities >= threshold, directed=False)
    groups = [np.flatnonzero(labels == label).tolist() for label in np.unique(labels)]
    return sorted((group for group in groups if len(group) >= 2), key=lambda group: (-len(group), group[0]))


@st.composite
def codes_and_threshold(draw, metric: str):
    """Small codes of few distinct values (so exact copies and ties are common) and a threshold of the metric."""
    n, d = draw(st.integers(1, 24)), draw(st.integers(1, 4))
    codes = draw(arrays(np.float32, (n, d), elements=st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])))
    low, high, exclude_low = THRESHOLDS[metric]
    threshold = draw(st.floats(low, high, exclude_min=exclude_low))
    return codes, threshold


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "hamming"])
@given(data=st.data())
def test_groups_are_the_connected_components_of_the_full_similarity_graph(metric, data):
    codes, threshold = data.draw(codes_and_threshold(metric))
    n_neighbors = data.draw(st.integers(1, 6))
    similarities = brute_force_similarities(codes, metric)
    copies = (codes[:, None, :] == codes[None, :, :]).all(axis=2)
    similarities[copies] = 1.0  # by definition: float64 rounding can make the cosine of two copies 1 − 2e-16
    assume(not np.any((np.abs(similarities - threshold) < 1e-4) & ~copies))  # no other pair at a rounding's reach of it
    groups = duplicate_groups(ExactIndex(metric=metric).fit(codes), codes, threshold, n_neighbors)
    assert [group.tolist() for group in groups] == brute_force_groups(similarities, threshold)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "hamming"])
@given(data=st.data())
def test_an_images_duplicate_score_is_its_strongest_link_in_its_group(metric, data):
    codes, threshold = data.draw(codes_and_threshold(metric))
    similarities = brute_force_similarities(codes, metric)
    np.fill_diagonal(similarities, -np.inf)  # an image's link to itself holds it nowhere
    collection = Collection(codes, np.zeros(len(codes)), None, index=ExactIndex(metric=metric).fit(codes))
    groups = collection.duplicates(threshold)
    scores = collection.duplicate_scores(groups)
    assert [len(group_scores) for group_scores in scores] == [len(group) for group in groups]
    for group, group_scores in zip(groups, scores):
        strongest = similarities[np.ix_(group, group)].max(axis=1)
        np.testing.assert_allclose(group_scores, strongest, atol=1e-5)
        assert np.all(group_scores >= threshold - 1e-5)


def test_a_group_larger_than_n_neighbors_comes_out_whole():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(60, 8)).astype(np.float32)
    copied = rng.choice(60, 40, replace=False)
    codes[copied] = codes[copied[0]]
    groups = duplicate_groups(ExactIndex().fit(codes), codes, 1.0, n_neighbors=3)
    assert [group.tolist() for group in groups] == [sorted(copied.tolist())]


def test_a_faiss_index_gives_the_groups_of_the_exact_one():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(80, 6)).astype(np.float32)
    codes[40:] = codes[:40] + rng.normal(scale=0.05, size=(40, 6)).astype(np.float32)  # 40 near pairs
    exact = duplicate_groups(ExactIndex().fit(codes), codes, 0.98, n_neighbors=2)
    flat = duplicate_groups(INDEXES["faiss-flat"]().fit(codes), codes, 0.98, n_neighbors=2)
    assert len(exact) >= 30 and [g.tolist() for g in flat] == [g.tolist() for g in exact]


@pytest.mark.parametrize(
    "metric, threshold",
    [("cosine", -1.5), ("cosine", 1.01), ("cosine", float("nan")), ("cosine", float("inf")), ("cosine", "0.9"),
     ("cosine", True), ("cosine", None), ("euclidean", 0), ("euclidean", 1.5), ("hamming", 0.0), ("hamming", -0.2)],
)
def test_a_threshold_outside_the_metrics_scores_is_refused_by_name(metric, threshold):
    codes = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=f"threshold must be a number in .* for metric '{metric}', got {threshold!r}"):
        duplicate_groups(ExactIndex(metric=metric).fit(codes), codes, threshold)


@pytest.mark.parametrize("n_neighbors", [0, -3, 2.5, True])
def test_n_neighbors_must_be_a_positive_int(n_neighbors):
    codes = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=f"n_neighbors must be an int >= 1, got {n_neighbors!r}"):
        duplicate_groups(ExactIndex().fit(codes), codes, 0.9, n_neighbors)


def test_the_codes_must_be_the_indexed_ones():
    codes = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="codes must be the 3 indexed ones, got 2"):
        duplicate_groups(ExactIndex().fit(codes), codes[:2], 0.9)


@pytest.mark.parametrize("encoder", ["dhash", "phash"])
def test_a_hash_pipeline_finds_the_exact_copies_of_an_array(encoder):
    images = np.stack([smooth_image(seed) for seed in range(10)] + [smooth_image(2), smooth_image(7), smooth_image(7)])
    pipeline = Pipeline(encoder=encoder, n_clusters=2, random_state=0).fit(images)
    assert pipeline.duplicates(threshold=1.0) == [[7, 11, 12], [2, 10]]
    found = pipeline.duplicates()  # the looser default may link more, never less
    assert all(any(set(copies) <= set(group) for group in found) for copies in ([7, 11, 12], [2, 10]))


def test_duplicates_needs_a_fitted_pipeline_and_a_threshold_of_its_metric():
    with pytest.raises(NotFittedError):
        Pipeline().duplicates()
    pipeline = Pipeline(encoder="dhash", metric="hamming", n_clusters=2, random_state=0).fit(np.stack([smooth_image(s) for s in range(4)]))
    with pytest.raises(ValueError, match=r"threshold must be a number in \(0, 1\] for metric 'hamming', got -0.5"):
        pipeline.duplicates(-0.5)


@pytest.fixture(scope="module")
def saved_copies(tmp_path_factory):
    """A saved phash pipeline of a folder of 8 distinct images, two copied once and one twice; and the copies' groups of paths."""
    root = tmp_path_factory.mktemp("copies")
    folder = root / "images"
    originals = [write_image(folder / f"image_{seed}.png", smooth_image(seed, 64, 64)) for seed in range(8)]
    copies = {
        originals[1]: [folder / "copy_of_1.png"],
        originals[4]: [folder / "copy_of_4.png", folder / "again" / "copy_of_4.png"],
    }
    for original, paths in copies.items():
        for path in paths:
            path.parent.mkdir(exist_ok=True)
            shutil.copyfile(original, path)
    pipeline = Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(folder)
    pipeline.save(root / "model")
    families = [{str(original), *map(str, paths)} for original, paths in copies.items()]
    return root / "model", pipeline, families


def duplicates_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["group", "index", "path", "score"]
    return list(reader)


def test_the_duplicates_command_prints_one_csv_row_per_grouped_image(saved_copies, capsys):
    model, pipeline, families = saved_copies
    assert cae_sim_main(["duplicates", str(model), "--threshold", "1"]) == 0
    rows = duplicates_rows(capsys.readouterr().out)
    printed = [(int(row["group"]), int(row["index"]), row["path"]) for row in rows]
    expected = [(number, i, pipeline.paths_[i]) for number, group in enumerate(pipeline.duplicates(1.0), 1) for i in group]
    assert printed == expected
    assert [row["score"] for row in rows] == ["1.000000"] * len(rows)  # exact copies
    by_group = {number: {path for n, _, path in printed if n == number} for number, _, _ in printed}
    assert sorted(by_group.values(), key=len) == sorted(families, key=len)


def test_the_duplicates_command_writes_the_csv_to_out_and_says_how_many(saved_copies, tmp_path, capsys):
    model, _, _ = saved_copies
    assert cae_sim_main(["duplicates", str(model), "--threshold", "1"]) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "groups.csv"
    assert cae_sim_main(["duplicates", str(model), "--threshold", "1", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"2 groups of near-duplicates (5 images) -> {out}\n"
    assert out.read_text(encoding="utf-8") == printed
    assert [path.name for path in tmp_path.iterdir()] == ["groups.csv"]  # no temporary file left


def test_the_duplicates_command_uses_the_calibrated_threshold_by_default(saved_copies, capsys):
    model, pipeline, families = saved_copies
    assert pipeline.calibration_ is not None
    assert cae_sim_main(["duplicates", str(model)]) == 0
    rows = duplicates_rows(capsys.readouterr().out)
    expected = [(number, i) for number, group in enumerate(pipeline.duplicates(pipeline.calibration_.threshold), 1) for i in group]
    assert [(int(row["group"]), int(row["index"])) for row in rows] == expected
    assert pipeline.duplicates() == pipeline.duplicates(pipeline.calibration_.threshold)


@pytest.mark.parametrize("text", ["2", "-1.5", "nan", "inf", "high"])
def test_a_bad_threshold_is_an_argparse_error_before_anything_is_loaded(text, capsys):
    with pytest.raises(SystemExit) as exited:
        cae_sim_main(["duplicates", "no-such-model", "--threshold", text])
    assert exited.value.code == 2
    assert f"argument --threshold: expected a number in [-1, 1], got '{text}'" in capsys.readouterr().err


def test_a_threshold_outside_the_saved_metrics_scores_is_one_error_line(tmp_path, capsys):
    pipeline = Pipeline(encoder="dhash", metric="euclidean", n_clusters=2, random_state=0)
    pipeline.fit(np.stack([smooth_image(seed) for seed in range(4)])).save(tmp_path / "model")
    assert cae_sim_main(["duplicates", str(tmp_path / "model"), "--threshold", "-0.5"]) == 2
    assert "error: threshold must be a number in (0, 1] for metric 'euclidean', got -0.5" in capsys.readouterr().err


@given(labels=arrays(np.int64, st.integers(2, 30), elements=st.integers(-1, 4)), families=st.data())
def test_the_experiments_precision_and_recall_count_pairs_one_by_one(labels, families):
    families = families.draw(arrays(np.int64, len(labels), elements=st.integers(-1, 4)))
    groups = [np.flatnonzero(labels == label).tolist() for label in range(5) if np.sum(labels == label) >= 2]
    assume(any(np.sum(families == family) >= 2 for family in range(5)))  # some true pair
    pairs = list(itertools.combinations(range(len(labels)), 2))
    found = {(i, j) for i, j in pairs if any(i in group and j in group for group in groups)}
    true = {(i, j) for i, j in pairs if families[i] >= 0 and families[i] == families[j]}
    scores = pair_scores(groups, families)
    assert scores["recall"] == pytest.approx(len(found & true) / len(true))
    assert scores["precision"] == pytest.approx(len(found & true) / len(found) if found else 1.0)
