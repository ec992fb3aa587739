"""The experiment's report: ``results.parquet``, ``summary.json``, plots, ``report.md`` and a terminal table.

``results.parquet`` holds one row per (arm, seed, checkpoint, head): the head's ``induction``,
``previous_token`` and ``duplicate_token`` scores, ``is_unit`` (the seed's unit), and the checkpoint's
``induction_loss_first/second/drop``, ``icl_score`` and ``heldout_loss_<domain>``; ``steps_since_window``
aligns seeds whose windows differ. ``summary.json`` follows the contract::

    {"arms": {NAME: {"formation_step": {"mean", "ci", "n"}, "speedup": {"mean", "ci", "n"},
                     "speedup_post_branch": {"mean", "ci", "n"}, "seeds": n, "branch_steps": [...], ...}},
     "comparisons": [{"arms": [A, B], "formation_step_difference": {...}, ...}],
     "icl_vs_induction_r": r, "intervals": {...}, "speedup_definition": "...", ...}

(``validation.stats`` defines every statistic). :func:`markdown` and :func:`plot_formation` need only
``summary.json``, so a committed summary regenerates its report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mda_curate.console import console, table
from mda_curate.validation.spec import ExperimentSpec
from mda_curate.validation.stats import CENSORING, FORMATION_RULE, INTERVALS, SPEEDUP, run_result, summarize

PLOTTED = (
    ("induction", "unit induction score"),
    ("induction_loss_drop", "induction-loss drop (nats)"),
    ("icl_score", "ICL score (nats)"),
)


def write_report(spec: ExperimentSpec, out: Path, runs: list) -> dict:
    """Collect every finished arm-run of ``runs`` and write the report files into ``out``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, results, by_run = [], [], {}
    for run in runs:
        run_rows = by_run[run] = pq.read_table(run.metrics_path).to_pylist()
        unit = run.seed.layer_head
        for row in run_rows:
            row["is_unit"] = (row["layer"], row["head"]) == unit
            row["steps_since_window"] = row["step"] - run.seed.window[0]
        rows.extend(run_rows)
    compared_at = compared_steps(by_run)
    for run, run_rows in by_run.items():
        results.append(run_result(run.arm, run.seed, run_rows, compared_at[run.seed.seed]))
    pq.write_table(pa.Table.from_pylist(rows), out / "results.parquet")
    summary = {
        "experiment": spec.name,
        **summarize(results, rows, spec.metrics),
        "runs": [r.to_json() for r in results],
        "formation_rule": FORMATION_RULE,
        "censoring": CENSORING,
        "speedup_definition": SPEEDUP,
        "intervals": {"method": INTERVALS, "confidence": spec.metrics.confidence, "over": "seeds"},
        "setup": setup(spec),
        "seeds": [
            {
                "seed": s.seed,
                "run": str(s.run),
                "window": list(s.window),
                "branch_step": s.window[0],
                "until": s.until,
                "unit": s.unit,
                "k": spec.arms.count((s.window[1] - s.window[0]) * spec.train.batch_size),
                "compared_at": compared_at.get(s.seed),
            }
            for s in spec.seeds
        ],
        "stop_after_formation": spec.arms.stop_after_formation,
        "files": {
            "results": "results.parquet",
            "report": "report.md",
            "plots": ["scores.png", "formation.png"],
            "spec": "spec.toml",
        },
    }
    (out / "summary.json").write_text(json.dumps(finite_json(summary), indent=2) + "\n")
    plot_scores(rows, out / "scores.png")
    plot_formation(summary, out / "formation.png")
    (out / "report.md").write_text(markdown(summary))
    console.print(table(f"validation: {spec.name}", COLUMNS, table_rows(summary)))
    console.print(f"wrote {out / 'summary.json'}, {out / 'report.md'}, results.parquet and plots in {out}")
    return summary


def compared_steps(by_run: dict) -> dict[int, int]:
    """Per seed, the last step every one of its arm-runs reached (arms that stop after formation end early)."""
    last: dict[int, int] = {}
    for run, run_rows in by_run.items():
        end = max(row["step"] for row in run_rows)
        last[run.seed.seed] = min(last.get(run.seed.seed, end), end)
    return last


def setup(spec: ExperimentSpec) -> str:
    """The report's set-up sentence."""
    train = spec.train
    return (
        f"Spec: `spec.toml` ({train.preset}, batch {train.batch_size}, ctx {train.ctx}; arms checkpoint "
        f"every {spec.arms.checkpoint_every} steps)."
    )


PROSE = "prose"  # the held-out domain whose loss change the table shows (all domains are in summary.json)
COLUMNS = [
    "arm",
    "seeds",
    "formation step [CI]",
    "censored",
    "speed-up after branch [CI]",
    "speed-up absolute [CI]",
    "delay (steps) [CI]",
    "vs baseline",
    "unit induction [CI]",
    f"{PROSE} loss change [CI]",
]
PAIR_COLUMNS = [
    "first arm",
    "second arm",
    "n",
    "formation step difference [CI]",
    "first forms",
    "post-branch speed-up difference [CI]",
]


def table_rows(summary: dict) -> list[list[str]]:
    return [
        [
            arm,
            str(a["seeds"]),
            interval_cell(a["formation_step"], "{:,.0f}"),
            _censored(a),
            interval_cell(a["speedup_post_branch"], "{:.3f}"),
            interval_cell(a["speedup"], "{:.3f}"),
            interval_cell(a["formation_delay"], "{:+,.0f}"),
            a["vs_baseline"] or "-",
            interval_cell(a["unit_induction"], "{:.3f}"),
            interval_cell(a["heldout_loss_change"].get(PROSE, {"mean": None}), "{:+.1%}"),
        ]
        for arm, a in summary["arms"].items()
    ]


def pair_rows(summary: dict) -> list[list[str]]:
    return [
        [
            *c["arms"],
            str(c["formation_step_difference"]["n"]),
            interval_cell(c["formation_step_difference"], "{:+,.0f}"),
            c["first_forms"],
            interval_cell(c["speedup_post_branch_difference"], "{:+.3f}"),
        ]
        for c in summary["comparisons"]
    ]


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return header + "".join("| " + " | ".join(row) + " |\n" for row in rows)


def markdown(summary: dict) -> str:
    """``report.md``: the setup, the tables and how to read them, from ``summary.json`` alone."""
    margin = summary.get("stop_after_formation")
    stop = "" if margin is None else f" or {margin} steps after the first checkpoint where they have formed"
    seeds = "\n".join(
        f"- seed {s['seed']}: `{s['run']}`, window steps {s['window'][0]}–{s['window'][1] - 1} (arms branch at step "
        f"{s['window'][0]}), arms to step {s['until']}{stop}, compared at step {s.get('compared_at')}, unit "
        f"L{s['unit'].replace('.', 'H')}, k = {s['k']}"
        for s in summary["seeds"]
    )
    r = summary["icl_vs_induction_r"]
    confidence = summary["intervals"]["confidence"]
    pairs = (
        ""
        if not summary["comparisons"]
        else (
            "Arm vs arm, paired on seeds (first minus second; a difference is named only when its interval "
            "excludes 0):"
            f"\n\n{markdown_table(PAIR_COLUMNS, pair_rows(summary))}\n"
        )
    )
    notes = "".join(f"**Note.** {note}\n\n" for note in summary.get("notes", []))
    return (
        f"# Validation: {summary['experiment']}\n\n{notes}{summary['setup']}\n\n{seeds}\n\n"
        f"{markdown_table(COLUMNS, table_rows(summary))}\n"
        f"Per seed: formation step (change vs the seed's baseline; >= right-censored, <= left-censored):\n\n"
        f"{per_seed_table(summary)}\n{pairs}"
        f"Formation: {summary['formation_rule']}. Censoring: {summary['censoring']}. Speed-up (> 1 is faster): "
        f"{summary['speedup_definition']}. Intervals: {confidence:.0%} {summary['intervals']['method']}; n (seeds) "
        "beside each; no interval with n = 1. Vs baseline: the per-seed paired delay's interval excludes 0 (earlier "
        "or later), else not distinguishable. Unit induction: mean of the unit's prefix-matching "
        "score over the arm's checkpoints after the window start, up to the compared step (the last step every arm of "
        "the seed reached). Loss change: held-out loss at the compared step, arm / "
        "baseline - 1, per seed (all domains: `summary.json`, `heldout_loss_change`).\n\n"
        f"ICL score vs unit induction score, over every arm, seed and checkpoint: r = "
        f"{'n/a' if r is None else f'{r:.3f}'} ({summary['icl_vs_induction_points']} points; negative = ICL improves "
        "with induction).\n\n![scores](scores.png)\n\n![formation](formation.png)\n"
    )


def per_seed_table(summary: dict) -> str:
    """Markdown: every arm's formation step on each seed, with its change vs that seed's baseline."""
    runs = {(r["arm"], r["seed"]): r for r in summary["runs"]}
    seeds = [s["seed"] for s in summary["seeds"]]
    lines = ["| arm | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds)]
    for arm in summary["arms"]:
        cells = [seed_cell(runs.get((arm, seed)), runs.get(("baseline", seed))) for seed in seeds]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def seed_cell(run: dict | None, baseline: dict | None) -> str:
    if run is None:
        return "-"
    cell = (">= " if run["censored"] else "<= " if run.get("left_censored") else "") + f"{run['formation_step']:,.0f}"
    if baseline is None or run is baseline:
        return cell
    return cell + f" ({run['formation_step'] / baseline['formation_step'] - 1:+.1%})"


def plot_scores(rows: list[dict], path: Path) -> None:
    """Unit score vs steps since the window start, one line per arm (mean over seeds) with a min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    unit_rows = [r for r in rows if r["is_unit"]]
    arms = list(dict.fromkeys(r["arm"] for r in unit_rows))
    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(5 * len(PLOTTED), 4))
    for ax, (metric, label) in zip(axes, PLOTTED):
        for arm in arms:
            by_step: dict[int, list[float]] = {}
            for r in unit_rows:
                if r["arm"] == arm and r[metric] is not None:
                    by_step.setdefault(r["steps_since_window"], []).append(r[metric])
            steps = sorted(by_step)
            values = [np.asarray(by_step[s]) for s in steps]
            (line,) = ax.plot(steps, [v.mean() for v in values], label=arm)
            ax.fill_between(
                steps, [v.min() for v in values], [v.max() for v in values], color=line.get_color(), alpha=0.2
            )
        ax.set(xlabel="steps since the window start", ylabel=label, title=label)
    axes[0].legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_formation(summary: dict, path: Path) -> None:
    """Bars: formation step and post-branch speed-up per arm, with their t-intervals and the per-seed values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary["arms"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = (
        (axes[0], "formation_step", "formation step"),
        (axes[1], "speedup_post_branch", "speed-up after the branch"),
    )
    for ax, key, label in panels:
        means = [summary["arms"][a][key]["mean"] or 0.0 for a in arms]
        cis = [summary["arms"][a][key]["ci"] for a in arms]
        errors = [
            [m - (ci[0] if ci[0] is not None else m) for m, ci in zip(means, cis)],
            [(ci[1] if ci[1] is not None else m) - m for m, ci in zip(means, cis)],
        ]
        ax.bar(range(len(arms)), means, yerr=errors, capsize=4, color="lightsteelblue")
        if key == "formation_step":
            for run in summary["runs"]:
                marker = "^" if run["censored"] else "o"
                ax.scatter(arms.index(run["arm"]), run["formation_step"], marker=marker, color="black", s=14, zorder=3)
            ax.set_ylim(min(r["formation_step"] for r in summary["runs"]) * 0.95, None)
        else:
            ax.axhline(1.0, color="grey", linestyle=":")
        ax.set_xticks(range(len(arms)), arms, rotation=30, ha="right", fontsize="small")
        ax.set(ylabel=label, title=label + (" (▲ censored)" if key == "formation_step" else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def interval_cell(stat: dict, fmt: str, with_n: bool = True) -> str:
    """``mean [lo, hi] (n=k)`` of a :func:`~mda_curate.validation.stats.t_interval`; ``mean (n=1)`` without an
    interval; ``with_n=False`` leaves n out where a column states it."""
    if stat["mean"] is None:
        return "-"
    lo, hi = stat["ci"]
    if lo is None:
        return f"{fmt.format(stat['mean'])} (n={stat['n']})"
    n = f" (n={stat['n']})" if with_n else ""
    return f"{fmt.format(stat['mean'])} [{fmt.format(lo)}, {fmt.format(hi)}]{n}"


def _censored(arm: dict) -> str:
    left = arm.get("left_censored", 0)
    return f"{arm['censored']}" + (f" (+{left} left)" if left else "")


def finite_json(value):
    """NaN and infinities as null: ``summary.json`` stays strict JSON."""
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
