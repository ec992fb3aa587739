"""The catalyst classifier: cheap features plus a calibrated scikit-learn model, saved with skops.

An artifact is a folder holding ``model.skops`` (never a pickle), ``card.json`` (the feature settings,
the sha256 of ``model.skops``, data, label rule, metrics, versions, command) and ``card.md``. Loading
checks the sha256 and passes skops an explicit list of trusted types.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mda_curate.classifier.features import FeatureSettings, extract_features, feature_names
from mda_curate.errors import UserError

DEFAULT_CLASSIFIER = Path(__file__).resolve().parents[2] / "classifiers" / "catalyst-default"
# Trained on domain labels (code/LaTeX/markup/records = 1, prose = 0), not on influence: the baseline that
# influence-taught classifiers are compared with.
PROXY_CLASSIFIER = DEFAULT_CLASSIFIER.with_name("catalyst-proxy")
MODEL_FILE, CARD_JSON, CARD_MARKDOWN = "model.skops", "card.json", "card.md"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")

# Types skops does not trust by default that a classifier of ours contains; nothing else is loaded.
TRUSTED_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


class CatalystClassifier:
    """Scores documents by how much they look like induction-head catalysts (repetitive structure)."""

    def __init__(self, model, settings: FeatureSettings, card: dict | None = None):
        self.model = model
        self.settings = settings
        self.card = card if card is not None else {}
        self._linear = _linear_form(model)

    def score(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Calibrated P(catalyst) per text (float64, in [0, 1]), deterministic (for the linear model, the
        default, also independent of ``batch_size``; otherwise it changes scores by float rounding only); only
        the first ``max_chars`` characters of each text are read.
        Non-string items raise a UserError naming their index."""
        if isinstance(texts, str):
            raise UserError("score() takes a sequence of texts, not one string")
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise UserError(f"texts[{i}] is {type(text).__name__}, not str")
        scores = [
            self.score_features(extract_features(texts[i : i + batch_size], self.settings))
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(scores) if scores else np.zeros(0)

    def score_features(self, features: np.ndarray) -> np.ndarray:
        """Calibrated P(catalyst) for a feature matrix from :func:`extract_features`."""
        features = features.astype(np.float64)
        if self._linear is None:
            return self.model.predict_proba(features)[:, 1]
        from scipy.special import expit

        weights, bias, slope, offset = self._linear
        logits = np.einsum("ij,j->i", features, weights) + bias  # row by row: a score does not depend on its batch
        return expit(-(slope * logits + offset))

    @property
    def feature_names(self) -> list[str]:
        return feature_names(self.settings)

    def save(self, directory: str | Path) -> Path:
        """Write ``model.skops``, ``card.json`` and ``card.md`` into ``directory``; returns it."""
        import skops.io

        from mda_curate.classifier.card import render_markdown

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        skops.io.dump(self.model, directory / MODEL_FILE)
        self.card["features"] = {**self.card.get("features", {}), "settings": self.settings.to_json()}
        self.card["artifact"] = {"file": MODEL_FILE, "format": "skops", "sha256": _sha256(directory / MODEL_FILE)}
        (directory / CARD_JSON).write_text(json.dumps(self.card, indent=2) + "\n")
        (directory / CARD_MARKDOWN).write_text(render_markdown(self.card))
        return directory


def _linear_form(model) -> tuple[np.ndarray, float, float, float] | None:
    """``(weights, bias, a, b)`` with ``P(catalyst) = expit(-(a * (x @ weights + bias) + b))`` when ``model`` is
    the sigmoid-calibrated StandardScaler + LogisticRegression pipeline that training builds, else None.

    Folding the scaler into the weights gives the same probabilities as ``predict_proba`` (to float rounding)
    without scikit-learn's per-call validation, which costs more than the product itself on small batches."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    calibrated = getattr(model, "calibrated_classifiers_", None)
    if getattr(model, "method", None) != "sigmoid" or calibrated is None or len(calibrated) != 1:
        return None
    pipeline = getattr(calibrated[0].estimator, "estimator", calibrated[0].estimator)  # inside FrozenEstimator
    steps = [step for _, step in getattr(pipeline, "steps", [])]
    if len(steps) != 2 or type(steps[0]) is not StandardScaler or type(steps[1]) is not LogisticRegression:
        return None
    scaler, linear = steps
    if not (scaler.with_mean and scaler.with_std) or linear.coef_.shape[0] != 1:
        return None
    weights = linear.coef_[0] / scaler.scale_
    bias = float(linear.intercept_[0] - scaler.mean_ @ weights)
    (calibrator,) = calibrated[0].calibrators
    return weights, bias, float(calibrator.a_), float(calibrator.b_)


def load_classifier(path: str | Path | None = None) -> CatalystClassifier:
    """Load a saved classifier folder (default: :data:`DEFAULT_CLASSIFIER`).

    Raises a UserError naming the file when it is missing, is a pickle, does not match the sha256 in
    its card, or holds types outside :data:`TRUSTED_TYPES`."""
    directory = Path(path) if path is not None else DEFAULT_CLASSIFIER
    if directory.is_file():
        directory = directory.parent
    model_path, card_path = directory / MODEL_FILE, directory / CARD_JSON
    if not model_path.is_file():
        pickles = sorted(p.name for p in directory.glob("*") if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise UserError(f"{directory / pickles[0]}: pickle artifacts are refused; save classifiers with skops")
        raise UserError(f"{model_path}: no such classifier file")
    card = _read_card(card_path)
    artifact = card.get("artifact")
    if not isinstance(artifact, dict):
        raise UserError(f"{card_path}: artifact is {json.dumps(artifact)}, not an object with the model's sha256")
    expected = artifact.get("sha256")
    if expected != _sha256(model_path):
        raise UserError(f"{model_path}: sha256 does not match {CARD_JSON} (tampered or replaced); refusing to load")
    model = _load_skops(model_path)
    try:
        settings = FeatureSettings(**card["features"]["settings"])
    except (KeyError, TypeError) as err:
        raise UserError(f"{card_path}: invalid feature settings ({err})") from None
    width = len(feature_names(settings))
    if getattr(model, "n_features_in_", width) != width:
        raise UserError(f"{model_path}: model expects {model.n_features_in_} features, card settings give {width}")
    return CatalystClassifier(model, settings, card)


def _read_card(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path}: no such file (every classifier needs its card)")
    try:
        card = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not a JSON card ({err})") from None
    if not isinstance(card, dict):
        raise UserError(f"{path}: not a JSON object")
    return card


def _load_skops(path: Path):
    import skops.io

    try:
        untrusted = [t for t in skops.io.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
    except Exception as err:  # a pickle or any non-skops file fails here (zipfile/JSON errors)
        raise UserError(
            f"{path}: not a skops file ({type(err).__name__}: {err}); pickle artifacts are refused"
        ) from None
    if untrusted:
        raise UserError(f"{path}: refusing to load untrusted types {', '.join(untrusted)}")
    try:
        return skops.io.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as err:
        raise UserError(f"{path}: cannot load skops artifact ({type(err).__name__}: {err})") from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
