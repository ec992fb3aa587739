"""Train the catalyst classifier: grouped split, logistic regression vs histogram gradient boosting,
sigmoid calibration on the validation split, and a model card."""

from __future__ import annotations

import platform
from collections.abc import Sequence

import numpy as np

from mda_curate.classifier.features import extract_features, feature_names
from mda_curate.classifier.model import CatalystClassifier
from mda_curate.classifier.settings import FeatureSettings, TrainSettings
from mda_curate.errors import UserError


def train_classifier(
    texts: Sequence[str],
    labels,
    groups: Sequence[str] | None = None,
    domains: Sequence[str] | None = None,
    seed: int = 0,
    *,
    settings: TrainSettings | None = None,
    show_progress: bool = False,
) -> tuple[CatalystClassifier, dict]:
    """Fit on 0/1 ``labels`` and return the classifier and its card (also ``classifier.card``).

    ``groups`` (default: one per text) keep related documents on one side of the train/validation
    split; ``domains`` give per-domain metrics. Deterministic given ``seed``."""
    settings = settings or TrainSettings()
    labels = _check_inputs(texts, labels, groups, domains)
    groups = list(groups) if groups is not None else [str(i) for i in range(len(texts))]
    domains = list(domains) if domains is not None else ["unknown"] * len(texts)
    features = _features(texts, settings, show_progress)
    train, validation = grouped_split(labels, groups, settings.validation_fraction, seed)
    named = _named_count(settings.features)
    fitted = {name: _fit(name, features[train], labels[train], named, seed) for name in settings.candidates}
    candidates = {
        name: metrics(_positive_scores(model, features[validation]), labels[validation])
        for name, model in fitted.items()
    }
    best = _select(candidates, settings.simpler_margin)
    model = _calibrate(fitted[best], features[validation], labels[validation])
    classifier = CatalystClassifier(model, settings.features)
    scores = classifier.score_features(features[validation])
    card = {
        "seed": seed,
        "data": _data_summary(labels, domains, train, validation, groups),
        "features": {
            "names": feature_names(settings.features)[: _named_count(settings.features)],
            "hashed_dims": settings.features.hashed_dims,
            "note": f"each document is scored on its first {settings.features.max_chars:,} characters only",
        },
        "model": {
            "chosen": best,
            "candidates": candidates,
            "selection": f"{settings.candidates[0]} unless another candidate's validation AUROC is higher by more "
            f"than {settings.simpler_margin} (the linear model transfers better to unseen domains)",
            "calibration": "sigmoid (Platt) fitted on the validation split",
        },
        "metrics": {
            "split": "validation",
            **metrics(scores, labels[validation]),
            "per_domain": per_domain(scores, labels[validation], [domains[i] for i in validation]),
            "top_features": top_features(features[validation], scores, settings.features),
        },
        "versions": versions(),
    }
    classifier.card = card
    return classifier, card


def train_and_save(labelled, out: str, seed: int, settings: TrainSettings, command: str) -> dict:
    """Train on ``labelled`` (:class:`~mda_curate.classifier.labels.Labelled`), save the classifier and its card
    (which records ``command``, the ``mda-curate classifier train`` line that remakes it) in ``out``, print the
    validation tables; returns the card."""
    from pathlib import Path

    docs = labelled.docs
    classifier, card = train_classifier(
        [d.text for d in docs],
        labelled.labels,
        labelled.groups,
        [d.domain for d in docs],
        seed=seed,
        settings=settings,
        show_progress=True,
    )
    card["data"] = {**labelled.data, **card["data"]}
    card.update(name=Path(out).name, label_rule=labelled.rule, command=command)
    if labelled.influence is not None:
        card["influence"] = labelled.influence
    classifier.save(out)
    print_training(card, out)
    return card


def train_command(
    out: str,
    scores: str | None = None,
    run: str | None = None,
    data: Sequence[str] = (),
    proxy_domains: Sequence[str] = (),
    fraction: float = 0.2,
    validation: float = 0.2,
    seed: int = 0,
    max_chars: int = FeatureSettings.max_chars,
    skip_bad: bool = False,
) -> str:
    """The ``mda-curate classifier train`` command line of these arguments (a card's ``command``)."""
    import shlex

    parts = ["mda-curate", "classifier", "train", *(["--run", run] if run else ["--data", *data])]
    parts += (
        ["--scores", scores, "--fraction", str(fraction)] if scores else ["--proxy-domains", ",".join(proxy_domains)]
    )
    parts += ["--validation", str(validation), "--seed", str(seed), "--max-chars", str(max_chars)]
    parts += ["--skip-bad"] if skip_bad else []
    return shlex.join(parts + ["--out", out])


def print_training(card: dict, out: str) -> None:
    """The candidates' and the chosen model's validation tables of a card."""
    from mda_curate.console import console, table

    rows = [[name, m["auroc"], m["average_precision"]] for name, m in card["model"]["candidates"].items()]
    console.print(table("validation (uncalibrated candidates)", ["model", "AUROC", "average precision"], rows))
    rows = [
        [d, m["n"], m["positives"], m["auroc"] if m["auroc"] is not None else "n/a", m["catalyst_rate"], m["mean"]]
        for d, m in card["metrics"]["per_domain"].items()
    ]
    header = ["domain", "n", "positives", "AUROC", "catalyst rate", "mean"]
    console.print(table("validation by domain (calibrated)", header, rows))
    console.print(f"kept {card['model']['chosen']}; wrote {out}/model.skops, card.json, card.md")


def _select(candidates: dict, margin: float) -> str:
    """The first candidate, unless the best validation AUROC beats it by more than ``margin``."""
    first = next(iter(candidates))
    best = max(candidates, key=lambda name: (candidates[name]["auroc"], candidates[name]["average_precision"]))
    return best if candidates[best]["auroc"] > candidates[first]["auroc"] + margin else first


def grouped_split(labels: np.ndarray, groups: Sequence[str], fraction: float, seed: int, tries: int = 20):
    """Train and validation indices with no group on both sides and both labels on each side."""
    from sklearn.model_selection import GroupShuffleSplit

    for attempt in range(tries):
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed + attempt)
        train, validation = next(splitter.split(np.zeros(len(labels)), labels, groups))
        if len(set(labels[train])) == 2 and len(set(labels[validation])) == 2:
            return np.sort(train), np.sort(validation)
    raise UserError(f"could not split {len(set(groups))} groups so both labels appear in train and validation")


def metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    """AUROC, average precision and counts (AUROC/AP are None when only one label is present)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    both = len(set(labels.tolist())) == 2
    return {
        "n": len(labels),
        "positives": int(labels.sum()),
        "auroc": float(roc_auc_score(labels, scores)) if both else None,
        "average_precision": float(average_precision_score(labels, scores)) if both else None,
    }


def per_domain(scores: np.ndarray, labels: np.ndarray | None, domains: Sequence[str]) -> dict:
    """Per domain: counts, catalyst rate (score >= 0.5), score quantiles, and metrics when labels are given."""
    domains = np.asarray(domains)
    out = {}
    for domain in sorted(set(domains.tolist())):
        mask = domains == domain
        part = scores[mask]
        entry = {
            "n": int(mask.sum()),
            "catalyst_rate": float((part >= 0.5).mean()),
            "mean": float(part.mean()),
            "quantiles": {f"p{q}": float(np.percentile(part, q)) for q in (10, 50, 90)},
        }
        if labels is not None:
            entry.update({k: v for k, v in metrics(part, labels[mask]).items() if k != "n"})
        out[domain] = entry
    return out


def top_features(features: np.ndarray, scores: np.ndarray, settings: FeatureSettings, k: int = 10) -> list[dict]:
    """The named features most correlated (Pearson, on the logit of the score) with the classifier's output."""
    named = features[:, : _named_count(settings)].astype(np.float64)
    logit = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1))
    centred = named - named.mean(axis=0)
    target = logit - logit.mean()
    denominator = np.sqrt((centred**2).sum(axis=0) * (target**2).sum())
    correlation = np.divide(centred.T @ target, denominator, out=np.zeros(named.shape[1]), where=denominator > 0)
    names = feature_names(settings)
    order = np.argsort(-np.abs(correlation), kind="stable")[:k]
    return [{"feature": names[i], "correlation": float(correlation[i])} for i in order]


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("mda-curate", "scikit-learn", "skops", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def _check_inputs(texts, labels, groups, domains) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(texts):
        raise UserError(f"need one label per text: {len(texts)} texts, labels of shape {labels.shape}")
    if not set(np.unique(labels).tolist()) <= {0, 1}:
        raise UserError("labels must be 0 or 1")
    if len(set(labels.tolist())) < 2:
        raise UserError("labels must include both 0 and 1")
    for name, values in (("groups", groups), ("domains", domains)):
        if values is not None and len(values) != len(texts):
            raise UserError(f"need one of {name} per text: {len(texts)} texts, {len(values)} {name}")
    return labels.astype(np.int64)


def _features(texts: Sequence[str], settings: TrainSettings, show_progress: bool) -> np.ndarray:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise UserError(f"texts[{i}] is {type(text).__name__}, not str")
    batches = range(0, len(texts), settings.batch_size)
    if not show_progress:
        return np.concatenate(
            [extract_features(texts[i : i + settings.batch_size], settings.features) for i in batches]
        )
    from mda_curate.console import progress

    rows = []
    with progress() as bar:
        task = bar.add_task("features", total=len(texts))
        for i in batches:
            rows.append(extract_features(texts[i : i + settings.batch_size], settings.features))
            bar.advance(task, len(rows[-1]))
    return np.concatenate(rows)


def _fit(name: str, features: np.ndarray, labels: np.ndarray, named: int, seed: int):
    """Logistic regression on all features (standardised), or gradient boosting on the ``named`` ones (trees
    over a thousand sparse hash buckets cost minutes and add little)."""
    if name == "logistic_regression":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, class_weight="balanced", max_iter=5000))
    else:
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.pipeline import make_pipeline

        boosting = HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.1, class_weight="balanced", early_stopping=False, random_state=seed
        )
        model = make_pipeline(ColumnTransformer([("named", "passthrough", list(range(named)))]), boosting)
    return model.fit(features, labels)


def _positive_scores(model, features: np.ndarray) -> np.ndarray:
    return model.predict_proba(features)[:, 1]


def _calibrate(model, features: np.ndarray, labels: np.ndarray):
    """One sigmoid on the frozen model's validation scores (the CV folds only re-predict a frozen model,
    so sklearn's warning about small classes per fold does not apply)."""
    import warnings

    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid", ensemble=False).fit(features, labels)


def _named_count(settings: FeatureSettings) -> int:
    return len(feature_names(settings)) - settings.hashed_dims


def _data_summary(labels, domains, train, validation, groups) -> dict:
    def counts(indices):
        return {"documents": len(indices), "positives": int(labels[indices].sum())}

    by_domain = {}
    for domain in sorted(set(domains)):
        mask = np.asarray(domains) == domain
        by_domain[domain] = {"documents": int(mask.sum()), "positives": int(labels[mask].sum())}
    return {
        "documents": len(labels),
        "groups": len(set(groups)),
        "train": counts(train),
        "validation": counts(validation),
        "by_domain": by_domain,
    }
