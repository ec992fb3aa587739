"""Render a classifier's card (``card.json``) as Markdown (``card.md``)."""

from __future__ import annotations


def _purpose(card: dict) -> str:
    influence = card.get("influence")
    if influence and influence.get("window"):
        probe = (influence.get("probe") or {}).get("probe", "its")
        start, end = influence["window"]
        what = (
            f"the training samples with the highest influence on the unit {influence.get('unit')} ({probe} probe) "
            f"over steps {start}:{end} of the run `{influence.get('run')}`"
        )
    else:
        what = "the documents its labels mark as catalyst (see Labels)"
    return (
        f"Scores a document by how much it resembles {what}. Higher = more catalyst; scores are calibrated "
        "probabilities."
    )


def render_markdown(card: dict) -> str:
    """A human-readable card: purpose, command, data, label rule, features, model, metrics, versions."""
    lines = [f"# Catalyst classifier: {card.get('name', 'unnamed')}", "", _purpose(card), ""]
    if card.get("command"):
        lines += ["## Command", "", "```bash", card["command"], "```", ""]
    label = card.get("label_rule")
    if label:
        lines += ["## Labels", "", label.get("description", ""), ""]
        if label.get("source"):
            lines += [f"Label source: **{label['source']}**.", ""]
        if label.get("proxy"):
            lines += [f"**Proxy labels.** {label['proxy']}", ""]
    lines += _influence_section(card.get("influence"))
    lines += _data_section(card.get("data", {}))
    features = card.get("features", {})
    lines += ["## Features", "", features.get("note", "").capitalize() + ".", ""]
    lines += [
        "Named features: " + ", ".join(f"`{n}`" for n in features.get("names", [])) + "; "
        f"plus {features.get('hashed_dims', 0)} hashed byte n-gram buckets.",
        "",
    ]
    lines += _model_section(card.get("model", {}), card.get("metrics", {}))
    lines += ["## Versions", ""] + [f"- {k}: {v}" for k, v in card.get("versions", {}).items()] + [""]
    artifact = card.get("artifact", {})
    if artifact:
        lines += [
            "## Artifact",
            "",
            f"`{artifact['file']}` ({artifact['format']}), sha256 `{artifact['sha256']}`.",
            "",
        ]
    return "\n".join(lines)


def _influence_section(influence: dict | None) -> list[str]:
    """Where influence labels came from: the run, unit, checkpoint, window and probe."""
    if not influence:
        return []
    window = influence.get("window")
    rows = [
        ("label source", influence.get("label_source")),
        ("run", influence.get("run")),
        ("unit", influence.get("unit")),
        ("checkpoint", influence.get("checkpoint")),
        ("window", f"steps {window[0]}:{window[1]}" if window else None),
        ("probe", (influence.get("probe") or {}).get("probe")),
        ("scores", influence.get("scores")),
    ]
    return ["## Influence", ""] + [f"- {name}: {value}" for name, value in rows if value is not None] + [""]


def _data_section(data: dict) -> list[str]:
    if not data:
        return []
    lines = ["## Data", ""]
    for key in ("files", "run", "scores"):
        if data.get(key):
            lines.append(f"- {key}: {', '.join(data[key]) if isinstance(data[key], list) else data[key]}")
    for key in (
        "documents_read",
        "samples_scored",
        "scores_rows",
        "scores_null",
        "scores_unmatched",
        "documents_unscored",
    ):
        if key in data:
            lines.append(f"- {key.replace('_', ' ')}: {data[key]:,}")
    lines.append(
        f"- labelled documents: {data.get('documents', 0):,} in {data.get('groups', 0):,} source groups; "
        f"train {data['train']['documents']:,} ({data['train']['positives']:,} positive), "
        f"validation {data['validation']['documents']:,} ({data['validation']['positives']:,} positive)"
    )
    lines += ["", "| domain | documents | positives |", "|---|---:|---:|"]
    lines += [f"| {d} | {v['documents']:,} | {v['positives']:,} |" for d, v in data.get("by_domain", {}).items()]
    return lines + [""]


def _model_section(model: dict, metrics: dict) -> list[str]:
    lines = [
        "## Model",
        "",
        f"Chosen: **{model.get('chosen')}** ({model.get('selection')}); {model.get('calibration')}.",
        "",
    ]
    lines += ["| candidate | validation AUROC | average precision |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {_num(m['auroc'])} | {_num(m['average_precision'])} |"
        for name, m in model.get("candidates", {}).items()
    ]
    lines += ["", "## Metrics (validation split, calibrated scores)", ""]
    lines += [
        f"AUROC {_num(metrics.get('auroc'))}, average precision {_num(metrics.get('average_precision'))} "
        f"on {metrics.get('n', 0):,} documents ({metrics.get('positives', 0):,} positive).",
        "",
    ]
    lines += [
        "| domain | n | positives | AUROC | catalyst rate | mean | p10 | p50 | p90 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for domain, m in metrics.get("per_domain", {}).items():
        q = m["quantiles"]
        lines.append(
            f"| {domain} | {m['n']} | {m.get('positives', '')} | {_num(m.get('auroc'))} | {m['catalyst_rate']:.3f} | "
            f"{m['mean']:.3f} | {q['p10']:.3f} | {q['p50']:.3f} | {q['p90']:.3f} |"
        )
    lines += ["", "Top features (correlation with the score's logit on the validation split):", ""]
    lines += [f"- `{f['feature']}`: {f['correlation']:+.3f}" for f in metrics.get("top_features", [])]
    return lines + [""]


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
