"""Scoring API, save/load round trip, and refusal of tampered, pickled or missing artifacts."""

import pickle

import numpy as np
import pytest

from mda_curate.classifier import DEFAULT_CLASSIFIER, PROXY_CLASSIFIER, CatalystClassifier, load_classifier
from mda_curate.errors import UserError

from .conftest import planted


def test_scores_are_probabilities_one_per_text(trained):
    classifier, _ = trained
    texts, labels, _ = planted(20, seed=1)
    scores = classifier.score(texts, batch_size=3)
    assert scores.dtype == np.float64 and scores.shape == (20,)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores[labels == 1].min() > scores[labels == 0].max()
    assert np.array_equal(scores, classifier.score(texts, batch_size=3))  # deterministic
    assert np.allclose(scores, classifier.score(texts), rtol=0, atol=1e-12)  # batch size: float rounding only
    assert classifier.score([]).shape == (0,)


def test_odd_texts_are_scored(trained):
    classifier, _ = trained
    scores = classifier.score(["", "\x00\x00", "caf\u00e9 \ud800", "x" * 300_000])
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("texts", [["ok", 3], ["ok", None], "one string"])
def test_non_string_input_is_rejected_with_a_reason(trained, texts):
    classifier, _ = trained
    with pytest.raises(UserError, match=r"texts\[1\] is (int|NoneType), not str|not one string"):
        classifier.score(texts)


def test_save_load_round_trip_gives_identical_scores(trained, tmp_path):
    classifier, card = trained
    folder = classifier.save(tmp_path / "clf")
    assert {p.name for p in folder.iterdir()} == {"model.skops", "card.json", "card.md"}
    loaded = load_classifier(folder)
    texts, _, _ = planted(12, seed=2)
    assert np.array_equal(loaded.score(texts), classifier.score(texts))
    assert loaded.card["artifact"]["sha256"] == card["artifact"]["sha256"]
    assert loaded.settings == classifier.settings


def test_tampered_artifact_is_refused(trained, tmp_path):
    folder = trained[0].save(tmp_path / "clf")
    model = folder / "model.skops"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(UserError, match=rf"^{model}: sha256 does not match card.json"):
        load_classifier(folder)


def test_pickle_artifact_is_refused(trained, tmp_path):
    classifier = trained[0]
    folder = classifier.save(tmp_path / "clf")
    model = folder / "model.skops"
    model.write_bytes(pickle.dumps(classifier.model))
    _update_sha(folder)
    with pytest.raises(UserError, match=rf"^{model}: not a skops file .* pickle artifacts are refused"):
        load_classifier(folder)
    model.unlink()
    (folder / "model.pkl").write_bytes(pickle.dumps(classifier.model))
    with pytest.raises(UserError, match=rf"^{folder / 'model.pkl'}: pickle artifacts are refused"):
        load_classifier(folder)


def test_missing_classifier_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=rf"^{tmp_path / 'none' / 'model.skops'}: no such classifier file"):
        load_classifier(tmp_path / "none")


def test_default_classifier_is_taught_by_the_natural_runs_influence():
    """The default's labels are the influence of the natural induction head over its committed scores' window."""
    import json

    classifier = load_classifier()
    assert isinstance(classifier, CatalystClassifier) and DEFAULT_CLASSIFIER.name == "catalyst-default"
    card = classifier.card
    assert card["name"] == "catalyst-default" and card["label_rule"]["source"] == "influence"
    scores = DEFAULT_CLASSIFIER.parents[1] / card["influence"]["scores"]
    arguments = json.loads(scores.with_suffix(".influence").joinpath("arguments.json").read_text())
    assert card["influence"]["unit"] == "2.0" and card["influence"]["window"] == [5500, 5750]
    assert card["influence"]["checkpoint"] == arguments["model"]


def test_proxy_classifier_is_taught_by_domains_and_ranks_structure_above_prose():
    classifier = load_classifier(PROXY_CLASSIFIER)
    assert classifier.card["name"] == "catalyst-proxy" and classifier.card["label_rule"]["kind"] == "proxy-domain"
    assert classifier.card["label_rule"]["source"] == "domain"
    assert "--out classifiers/catalyst-proxy" in classifier.card["command"]
    texts, labels, _ = planted(20, seed=3)
    scores = classifier.score(texts)
    assert scores[labels == 1].mean() > scores[labels == 0].mean()


def test_linear_classifier_scores_in_closed_form_independent_of_the_batch():
    from mda_curate.classifier.features import extract_features

    classifier = load_classifier(PROXY_CLASSIFIER)
    assert classifier.card["model"]["chosen"] == "logistic_regression"
    texts, _, _ = planted(30, seed=4)
    features = extract_features(texts, classifier.settings)
    reference = classifier.model.predict_proba(features.astype(np.float64))[:, 1]  # scikit-learn's own path
    np.testing.assert_allclose(classifier.score_features(features), reference, rtol=0, atol=1e-12)
    assert np.array_equal(classifier.score(texts, batch_size=1), classifier.score(texts, batch_size=256))


def _update_sha(folder):
    import hashlib
    import json

    card = json.loads((folder / "card.json").read_text())
    card["artifact"]["sha256"] = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
