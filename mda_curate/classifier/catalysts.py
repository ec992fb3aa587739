"""What data carries a unit: influence of a run's window samples by domain, source package and document feature.

For one scores file of ``mda-curate influence --train RUN --steps A:B`` (the unit's induction or
previous-token probe, at the window start or nearer formation), :func:`catalyst_report` measures

- per domain and per source package: its share of the window's samples and of the top ``top_fraction``
  by influence (and their ratio, the lift), and the mean influence *percentile* of its samples with a
  95% t-interval over those samples (n stated). A sample's percentile is its average rank, ``(rank - 0.5) / n``
  from the lowest score up, so the window's mean is 0.5 and a group with no preference sits at 0.5;
- per named classifier feature (``classifier.features``, computed on the decoded sample): Spearman's rho
  with the score, and how much of the percentile the features predict on samples of source documents never
  seen in fitting (held-out R^2 of a ridge regression and of histogram gradient boosting, beside a ridge on
  the domain alone, on one split by source document);
- the top and bottom samples with their text.

:func:`write_catalyst_report` writes ``report.md``, ``report.json`` (every number) and one PNG per scores
file; with two or more files it adds their Spearman agreement on the samples they share.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mda_curate.classifier.features import FeatureSettings, extract_features, feature_names
from mda_curate.errors import UserError

METHOD = (
    "A sample's percentile is its average rank by influence, (rank - 0.5) / n from the lowest score up: the window's "
    "mean is 0.5, so a group at 0.5 carries no more influence than the window as a whole. Intervals are 95% "
    "t-intervals over the group's samples (n given). Lift is the group's share of the top samples over its share of "
    "the window. Features are the catalyst classifier's named features of the decoded sample; R² is measured on "
    "samples of source documents held out of fitting."
)
REPORT_FEATURES = FeatureSettings(hashed_dims=0)  # the classifier's named features, on the whole sample
MIN_GROUPS = 5  # source documents needed for a held-out R^2


def catalyst_report(
    window, name: str, top_fraction: float = 0.1, examples: int = 10, text_chars: int = 300, seed: int = 0
) -> dict:
    """The report of one :class:`~mda_curate.influence.window.ScoredWindow` (see the module docstring)."""
    from scipy.stats import rankdata

    from mda_curate.influence.scores import ranked

    if not 0 < top_fraction < 1:
        raise UserError(f"top_fraction must be in (0, 1), got {top_fraction}")
    samples, scores = window.samples, np.asarray(window.scores, dtype=np.float64)
    n = len(scores)
    if n < 2:
        raise UserError(f"{window.provenance.get('scores')}: {n} scored sample(s); a report needs at least 2")
    percentile = (rankdata(scores) - 0.5) / n
    order = ranked(scores)
    top = np.zeros(n, dtype=bool)
    top[order[: max(1, round(top_fraction * n))]] = True
    features = extract_features([s.text for s in samples], REPORT_FEATURES).astype(np.float64)
    return {
        "name": name,
        "provenance": window.provenance,
        "samples": n,
        "unscored": window.unscored,
        "top_fraction": top_fraction,
        "top_samples": int(top.sum()),
        "by_domain": group_table([s.domain for s in samples], percentile, top),
        "by_source": group_table([s.source for s in samples], percentile, top),
        "features": feature_correlations(features, scores),
        "feature_model": feature_model(
            features, percentile, [s.domain for s in samples], [_document(s) for s in samples], seed
        ),
        "top": _examples(samples, scores, percentile, order[:examples], text_chars),
        "bottom": _examples(samples, scores, percentile, order[::-1][:examples], text_chars),
    }


def group_table(groups: Sequence[str], percentile: np.ndarray, top: np.ndarray) -> list[dict]:
    """Per group: samples, window share, top share, lift, and the mean percentile with a 95% t-interval;
    highest mean percentile first."""
    groups = np.asarray(groups, dtype=object)
    rows = []
    for group in sorted(set(groups.tolist())):
        mine = groups == group
        window_share, top_share = float(mine.mean()), float(mine[top].mean())
        rows.append(
            {
                "group": group,
                "n": int(mine.sum()),
                "window_share": window_share,
                "top_share": top_share,
                "lift": top_share / window_share,
                **t_interval(percentile[mine]),
            }
        )
    return sorted(rows, key=lambda r: (-r["mean_percentile"], r["group"]))


def t_interval(values: np.ndarray, confidence: float = 0.95) -> dict:
    """Mean with a two-sided t-interval over ``values`` (no interval for one value)."""
    from scipy.stats import t

    n, mean = len(values), float(np.mean(values))
    if n < 2:
        return {"mean_percentile": mean, "ci_low": None, "ci_high": None}
    half = float(t.ppf((1 + confidence) / 2, n - 1) * np.std(values, ddof=1) / math.sqrt(n))
    return {"mean_percentile": mean, "ci_low": mean - half, "ci_high": mean + half}


def feature_correlations(features: np.ndarray, scores: np.ndarray) -> list[dict]:
    """Spearman's rho of every named feature with the score (None for a constant feature), largest |rho| first."""
    from scipy.stats import spearmanr

    rows = []
    for name, column in zip(feature_names(REPORT_FEATURES), features.T):
        rho = None if np.ptp(column) == 0 or np.ptp(scores) == 0 else float(spearmanr(column, scores).statistic)
        rows.append({"feature": name, "spearman": rho})
    return sorted(rows, key=lambda r: (r["spearman"] is None, -abs(r["spearman"] or 0.0), r["feature"]))


def feature_model(
    features: np.ndarray,
    percentile: np.ndarray,
    domains: Sequence[str],
    documents: Sequence[str],
    seed: int,
    test_fraction: float = 0.2,
) -> dict:
    """Held-out R^2 of the percentile from the features (ridge on the features' quantiles, which heavy-tailed
    features cannot throw off, its penalty chosen by leave-one-out on the training part; gradient boosting) and
    from the domain alone (ridge on one-hot domains), on one split of the source documents (``test_fraction`` of
    them held out)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GroupShuffleSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, QuantileTransformer

    groups = len(set(documents))
    if groups < MIN_GROUPS:
        return {"skipped": f"{groups} source documents; a held-out R^2 needs at least {MIN_GROUPS}"}
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train, test = next(splitter.split(features, percentile, documents))
    onehot = np.asarray(domains, dtype=object).reshape(-1, 1)
    models = {
        "ridge": (
            make_pipeline(
                QuantileTransformer(n_quantiles=min(1000, len(train))), RidgeCV(alphas=np.logspace(-2, 4, 13))
            ),
            features,
        ),
        "hist_gradient_boosting": (HistGradientBoostingRegressor(max_iter=200, random_state=seed), features),
        "domain_only_ridge": (make_pipeline(OneHotEncoder(handle_unknown="ignore"), Ridge(alpha=1.0)), onehot),
    }
    r2 = {
        name: float(r2_score(percentile[test], model.fit(x[train], percentile[train]).predict(x[test])))
        for name, (model, x) in models.items()
    }
    return {
        "target": "influence percentile",
        "split": "by source document, seeded",
        "seed": seed,
        "train": len(train),
        "test": len(test),
        "test_documents": len(set(np.asarray(documents)[test])),
        "r2": r2,
    }


def score_agreement(windows: Sequence[tuple[str, object]]) -> list[dict]:
    """Spearman's rho between every two named scored windows over the samples both scored."""
    from scipy.stats import spearmanr

    out = []
    for i, (name_a, a) in enumerate(windows):
        by_a = {s.sample_index: v for s, v in zip(a.samples, a.scores)}
        for name_b, b in windows[i + 1 :]:
            shared = [(by_a[s.sample_index], v) for s, v in zip(b.samples, b.scores) if s.sample_index in by_a]
            rho = float(spearmanr(*zip(*shared)).statistic) if len(shared) > 2 else None
            out.append({"a": name_a, "b": name_b, "shared_samples": len(shared), "spearman": rho})
    return out


def write_catalyst_report(reports: Sequence[dict], agreement: Sequence[dict], out: str | Path, command: str) -> dict:
    """``report.md``, ``report.json`` and ``<name>.png`` per report in ``out``; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = {r["name"]: str(plot_catalyst_report(r, out / f"{r['name']}.png")) for r in reports}
    (out / "report.json").write_text(
        json.dumps({"command": command, "reports": list(reports), "agreement": list(agreement)}, indent=2) + "\n"
    )
    (out / "report.md").write_text(render_markdown(reports, agreement, command))
    return {"markdown": str(out / "report.md"), "json": str(out / "report.json"), "plots": plots}


def render_markdown(reports: Sequence[dict], agreement: Sequence[dict], command: str) -> str:
    lines = [
        "# What data carries the unit: influence by domain, source and feature",
        "",
        f"Generated by `{command}`; every number is in `report.json`.",
        "",
    ]
    lines += [METHOD, ""]
    for report in reports:
        lines += _report_markdown(report)
    if agreement:
        lines += [
            "## Agreement between the scores files",
            "",
            "| a | b | shared samples | Spearman |",
            "|---|---|---:|---:|",
        ]
        lines += [f"| {a['a']} | {a['b']} | {a['shared_samples']:,} | {_num(a['spearman'])} |" for a in agreement]
        lines.append("")
    return "\n".join(lines)


def _report_markdown(report: dict) -> list[str]:
    source = report["provenance"]
    window = source.get("window", ["?", "?"])
    lines = [f"## {report['name']}", ""]
    lines += [
        (
            f"Run `{source.get('run')}`, steps {window[0]}:{window[1]}; scores `{source.get('scores')}`; unit "
            f"{source.get('unit', 'unknown')} ({(source.get('probe') or {}).get('probe', 'probe unknown')}), "
            f"checkpoint `{source.get('checkpoint', 'unknown')}`. {report['samples']:,} scored samples "
            f"({report['unscored']:,} rows unscored); top {report['top_fraction']:.0%} = "
            f"{report['top_samples']:,} samples."
        ),
        "",
        f"![{report['name']}]({report['name']}.png)",
        "",
    ]
    for title, key in (("By domain", "by_domain"), ("By source package", "by_source")):
        lines += [
            f"### {title}",
            "",
            "| group | n | window share | top share | lift | mean percentile [95% t-interval] |",
            "|---|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {_escape(r['group'])} | {r['n']:,} | {r['window_share']:.3f} | {r['top_share']:.3f} | "
            f"{r['lift']:.2f} | {r['mean_percentile']:.3f} {_interval(r)} |"
            for r in report[key]
        ]
        lines.append("")
    lines += ["### Document features", "", "| feature | Spearman with influence |", "|---|---:|"]
    lines += [f"| `{f['feature']}` | {_num(f['spearman'])} |" for f in report["features"]]
    model = report["feature_model"]
    if "r2" in model:
        r2 = model["r2"]
        lines += [
            "",
            (
                f"Held-out R² of the influence percentile ({model['train']:,} training samples, "
                f"{model['test']:,} held-out samples of {model['test_documents']:,} unseen source documents): "
                "ridge on the features "
                f"{r2['ridge']:.3f}, gradient boosting on the features {r2['hist_gradient_boosting']:.3f}, "
                f"ridge on the domain alone {r2['domain_only_ridge']:.3f}."
            ),
            "",
        ]
    else:
        lines += ["", f"Held-out R²: not computed ({model['skipped']}).", ""]
    for title, key in (("Top samples", "top"), ("Bottom samples", "bottom")):
        lines += [
            f"### {title}",
            "",
            "| sample | domain | source | score | percentile | text |",
            "|---:|---|---|---:|---:|---|",
        ]
        lines += [
            f"| {e['sample_index']} | {e['domain']} | {_escape(e['source'])} | {e['score']:.4g} | "
            f"{e['percentile']:.3f} | {_escape(e['text'])} |"
            for e in report[key]
        ]
        lines.append("")
    return lines


def plot_catalyst_report(report: dict, path: str | Path, sources: int = 15, top_features: int = 12) -> Path:
    """Four panels: domain shares (window vs top), mean percentile by domain and by source package (95%
    t-intervals), and the features' Spearman with influence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(13, 9), constrained_layout=True)
    domains = report["by_domain"]
    x = np.arange(len(domains))
    axes[0, 0].bar(x - 0.2, [d["window_share"] for d in domains], 0.4, label="share of the window")
    top_label = f"share of the top {report['top_fraction']:.0%}"
    axes[0, 0].bar(x + 0.2, [d["top_share"] for d in domains], 0.4, label=top_label)
    axes[0, 0].set_xticks(x, [d["group"] for d in domains])
    axes[0, 0].legend()
    axes[0, 0].set_title("domains: window vs top-influence share")
    _percentile_panel(axes[0, 1], domains, "mean influence percentile by domain (95% t-interval)")
    largest = sorted(report["by_source"], key=lambda r: -r["n"])[:sources]
    _percentile_panel(
        axes[1, 0],
        sorted(largest, key=lambda r: r["mean_percentile"]),
        f"by source package (the {len(largest)} largest)",
        horizontal=True,
    )
    features = [f for f in report["features"] if f["spearman"] is not None][:top_features][::-1]
    values = [f["spearman"] for f in features]
    colors = ["tab:red" if v > 0 else "tab:blue" for v in values]
    axes[1, 1].barh([f["feature"] for f in features], values, color=colors)
    axes[1, 1].axvline(0, color="grey", linewidth=0.8)
    axes[1, 1].set_title("features: Spearman with influence")
    window = report["provenance"].get("window", ["?", "?"])
    figure.suptitle(
        f"{report['name']}: unit {report['provenance'].get('unit', '?')}, steps {window[0]}:{window[1]}, "
        f"{report['samples']:,} samples"
    )
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _percentile_panel(axis, rows: list[dict], title: str, horizontal: bool = False) -> None:
    means = np.array([r["mean_percentile"] for r in rows])
    low = np.array([r["ci_low"] if r["ci_low"] is not None else r["mean_percentile"] for r in rows])
    high = np.array([r["ci_high"] if r["ci_high"] is not None else r["mean_percentile"] for r in rows])
    separator = " " if horizontal else "\n"
    labels, errors = [f"{r['group']}{separator}(n={r['n']})" for r in rows], np.vstack([means - low, high - means])
    positions = np.arange(len(rows))
    if horizontal:
        axis.errorbar(means, positions, xerr=errors, fmt="o", capsize=3)
        axis.set_yticks(positions, labels)
        axis.axvline(0.5, color="grey", linestyle=":")
    else:
        axis.errorbar(positions, means, yerr=errors, fmt="o", capsize=3)
        axis.set_xticks(positions, labels)
        axis.axhline(0.5, color="grey", linestyle=":")
    axis.set_title(title)


def _examples(samples, scores, percentile, indices, text_chars: int) -> list[dict]:
    return [
        {
            "sample_index": samples[i].sample_index,
            "domain": samples[i].domain,
            "source": samples[i].source,
            "document": samples[i].document,
            "score": float(scores[i]),
            "percentile": float(percentile[i]),
            "text": samples[i].text[:text_chars],
        }
        for i in indices.tolist()
    ]


def _document(sample) -> str:
    from mda_curate.classifier.labels import document_group

    return document_group(sample.document)


_MARKDOWN_SPECIAL = str.maketrans({**{c: "\\" + c for c in "\\`*_[]<>|#~$"}, "&": "&amp;"})


def _escape(text: str) -> str:
    """Text for one Markdown table cell: special characters escaped, line breaks shown as ⏎."""
    escaped = text.translate(_MARKDOWN_SPECIAL).replace("\r\n", "\n")
    return escaped.replace("\n", " ⏎ ").replace("\r", " ").replace("\t", " ")


def _interval(row: dict) -> str:
    return "(n=1)" if row["ci_low"] is None else f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}] (n={row['n']:,})"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:+.3f}"
