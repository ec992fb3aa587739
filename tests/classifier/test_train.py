"""Training: grouped split, candidate selection, the card, determinism and transfer to unseen domains."""

import numpy as np
import pytest

from mda_curate.classifier.train import grouped_split, train_classifier
from mda_curate.errors import UserError

from .conftest import html, json_records, planted


def test_card_records_data_model_metrics_and_versions(trained):
    classifier, card = trained
    assert classifier.card is card
    assert card["data"]["documents"] == 80 and card["data"]["by_domain"]["prose"] == {"documents": 40, "positives": 0}
    assert card["model"]["chosen"] == "logistic_regression"
    assert card["metrics"]["auroc"] == 1.0 and card["metrics"]["average_precision"] == 1.0
    assert set(card["metrics"]["per_domain"]) == {"prose", "latex", "code"}
    assert "first 3,072 characters" in card["features"]["note"]
    assert {"python", "scikit-learn", "skops", "numpy"} <= set(card["versions"])
    assert card["metrics"]["top_features"][0]["feature"] in card["features"]["names"]


@pytest.mark.slow  # gradient boosting: seconds alone, much longer on a busy 2-core machine (OpenMP)
def test_both_candidates_are_compared_and_training_is_deterministic():
    texts, labels, domains = planted(40, seed=4)
    first, card = train_classifier(texts, labels, domains=domains, seed=1)
    second, _ = train_classifier(texts, labels, domains=domains, seed=1)
    assert set(card["model"]["candidates"]) == {"logistic_regression", "hist_gradient_boosting"}
    assert np.array_equal(first.score(texts), second.score(texts))


def test_grouped_split_keeps_groups_together():
    labels = np.array([0, 1] * 30)
    groups = [f"g{i // 4}" for i in range(60)]
    train, validation = grouped_split(labels, groups, 0.25, seed=0)
    assert not {groups[i] for i in train} & {groups[i] for i in validation}
    assert len(train) + len(validation) == 60


@pytest.mark.parametrize(
    "labels, match", [([0] * 6, "both 0 and 1"), ([0, 1, 2, 0, 1, 0], "0 or 1"), ([0, 1], "one label per text")]
)
def test_bad_labels_are_user_errors(labels, match):
    with pytest.raises(UserError, match=match):
        train_classifier(["a"] * 6, labels)


def test_transfer_structured_unseen_domains_rank_above_prose(trained):
    """Trained on LaTeX and code vs prose only, JSON records and HTML pages still outrank prose."""
    import random

    from .conftest import prose

    classifier, _ = trained
    rng = random.Random(7)
    structured = [json_records(rng) for _ in range(10)] + [html(rng) for _ in range(10)]
    plain = [prose(rng) for _ in range(20)]
    scores = classifier.score(structured + plain)
    assert scores[:20].min() > scores[20:].max()
