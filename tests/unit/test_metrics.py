import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cae_sim.metrics import (
    ari,
    clustering_accuracy,
    clustering_scores,
    mean_average_precision,
    nmi,
    precision_at_k,
    purity,
    top_n_accuracy,
)

labels = st.lists(st.integers(0, 5), min_size=1, max_size=60)


@given(labels, st.permutations(range(6)))
def test_renaming_clusters_changes_no_score(true, permutation):
    true = np.array(true)
    renamed = np.array(permutation)[true]
    scores = clustering_scores(true, renamed)
    assert scores["acc"] == pytest.approx(1.0) and scores["purity"] == pytest.approx(1.0)
    assert scores["nmi"] == pytest.approx(1.0) and scores["ari"] == pytest.approx(1.0)


@given(labels, st.data())
def test_scores_stay_in_range_and_accuracy_never_exceeds_purity(true, data):
    predicted = data.draw(st.lists(st.integers(0, 5), min_size=len(true), max_size=len(true)))
    acc = clustering_accuracy(true, predicted)
    assert 0 < acc <= purity(true, predicted) <= 1
    assert 0 <= nmi(true, predicted) <= 1 + 1e-9
    assert -1 <= ari(true, predicted) <= 1


def test_accuracy_uses_a_one_to_one_mapping():
    true = [0, 0, 1, 1, 2, 2]
    merged = [0, 0, 0, 0, 1, 1]  # two classes in one cluster: only one of them can map to it
    assert clustering_accuracy(true, merged) == pytest.approx(4 / 6)
    assert purity(true, merged) == pytest.approx(4 / 6)
    assert clustering_accuracy([0, 1, 0, 1], [0, 0, 0, 0]) == pytest.approx(0.5)


def test_retrieval_metrics_on_a_known_ranking():
    ranked = [[3, 1, 2], [0, 2, 1]]
    relevant = [1, [0, 1]]
    assert top_n_accuracy(relevant, ranked, 1) == pytest.approx(0.5)
    assert top_n_accuracy(relevant, ranked, 2) == pytest.approx(1.0)
    assert precision_at_k(relevant, ranked, 2) == pytest.approx((1 / 2 + 1 / 2) / 2)
    # query 1: hit at rank 2 → AP 1/2; query 2: hits at ranks 1 and 3 → (1 + 2/3) / 2
    assert mean_average_precision(relevant, ranked) == pytest.approx((0.5 + (1 + 2 / 3) / 2) / 2)


@given(st.lists(st.permutations(range(8)), min_size=1, max_size=10), st.data())
def test_more_results_never_lower_top_n_accuracy(rankings, data):
    relevant = [data.draw(st.integers(0, 7)) for _ in rankings]
    accuracies = [top_n_accuracy(relevant, rankings, n) for n in range(1, 9)]
    assert accuracies == sorted(accuracies) and accuracies[-1] == 1.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: clustering_accuracy([0, 1], [0]), "one length"),
        (lambda: nmi([], []), "non-empty"),
        (lambda: top_n_accuracy([0], [[0, 1]], 3), r"n must be in \[1, 2\]"),
        (lambda: precision_at_k([0], [[0, 1]], 0), "k must be"),
        (lambda: mean_average_precision([0, 1], [[0, 1]]), "2 queries"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
