"""What a classifier does on some documents: per-domain catalyst rates and the features its score tracks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mda_curate.classifier.features import extract_features
from mda_curate.classifier.model import CatalystClassifier
from mda_curate.classifier.train import per_domain, top_features
from mda_curate.data.documents import Document


def classifier_report(
    classifier: CatalystClassifier, docs: Sequence[Document], top: int = 12, batch_size: int = 256
) -> dict:
    """Scores of ``docs`` summarised per domain, and the ``top`` named features most correlated with them."""
    texts = [d.text for d in docs]
    features = np.concatenate(
        [extract_features(texts[i : i + batch_size], classifier.settings) for i in range(0, len(texts), batch_size)]
    )
    scores = classifier.score_features(features)
    return {
        "n": len(docs),
        "per_domain": per_domain(scores, None, [d.domain for d in docs]),
        "top_features": top_features(features, scores, classifier.settings, k=top),
        "scores": scores,
        "domains": [d.domain for d in docs],
    }


def plot_report(report: dict, out: str | Path) -> Path:
    """Score distribution per domain (box plot) and the top feature correlations (bars), as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = list(report["per_domain"])
    scores, labels = report["scores"], np.asarray(report["domains"])
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    left.boxplot([scores[labels == d] for d in domains], showfliers=False)
    left.set_xticks(
        range(1, len(domains) + 1), [f"{d}\n{report['per_domain'][d]['catalyst_rate']:.0%}" for d in domains]
    )
    left.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    left.set_ylabel("catalyst score")
    left.set_title("score by domain (label: catalyst rate, score >= 0.5)")
    features = report["top_features"][::-1]
    values = [f["correlation"] for f in features]
    right.barh([f["feature"] for f in features], values, color=["tab:red" if v > 0 else "tab:blue" for v in values])
    right.set_xlabel("correlation with the score's logit")
    right.set_title("features the score tracks")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
