"""Regenerate every results table in the docs from the committed result files: ``make results``.

1. Each validation experiment's ``benchmarks/validation/<name>/summary.json``: its statistics (``arms``,
   ``comparisons``, definitions) are recomputed from its per-run results (``runs``) by
   ``mda_curate.validation.stats``, then its ``report.md`` and ``formation.png`` are rewritten from it.
   Runs scored under the former formation rule keep their formation steps and say so (``notes``): their
   per-checkpoint scores are not committed, so the current rule cannot be applied to them.
2. The formation-window sweep's formation steps are recomputed from the trajectories in its JSON.
3. Every block ``<!-- results: NAME -->`` ... ``<!-- /results -->`` of the Markdown files in ``DOCS`` is
   replaced by the table ``NAME`` rendered from those files.

``python benchmarks/make_results.py --check`` changes nothing and exits 1 if a file differs from what
it would write (the fast test ``tests/test_results.py`` runs the same check).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
VALIDATION = BENCH / "validation"
DOCS = [
    "README.md",
    "benchmarks/README.md",
    "benchmarks/validation/README.md",
    "benchmarks/formation_window/README.md",
    "benchmarks/influence/README.md",
    "benchmarks/classifier/README.md",
    "benchmarks/pipeline_overhead/README.md",
    "benchmarks/trainer_throughput/README.md",
    "benchmarks/natural_formation/README.md",
    "benchmarks/natural_catalysts/README.md",
]
BLOCK = re.compile(r"(<!-- results: ([\w./-]+) -->\n)(.*?)(<!-- /results -->)", re.S)
FORMER_RULE = (
    "former rule (these runs were scored before it changed): the later of the two criteria's first crossings, "
    "each interpolated between checkpoints, whether or not both held at one checkpoint"
)
NOT_RECOMPUTED = (
    "The arm-runs' per-checkpoint scores (`results.parquet`) are not committed, so their formation steps cannot be "
    "recomputed under the current rule (the first checkpoint where both criteria hold) from committed files; they are "
    "the former rule's. The current rule gives the same step or a later one (or none) for each run: the same whenever "
    "neither criterion falls back below its threshold after crossing it, as in every committed trajectory of the "
    "formation-window sweep (`benchmarks/formation_window/`). Intervals, speed-ups and comparisons below are "
    "recomputed from the per-run steps."
)
KEY_PAIRS = [
    ("targeted_removal", "random_removal"),
    ("targeted_augmentation", "random_augmentation"),
    ("classifier_upsampling", "targeted_augmentation"),
    ("classifier_upsampling", "random_augmentation"),
    ("classifier_upsampling", "random_upsampling"),
    ("synthetic_augmentation", "random_insertion"),
]


# ---------------------------------------------------------------------------------------------- validation


def validation_experiments() -> list[Path]:
    return sorted(p.parent for p in VALIDATION.glob("*/summary.json"))


def recompute_summary(folder: Path) -> dict:
    """The experiment's ``summary.json`` with its statistics recomputed from its ``runs`` (and the definitions
    they follow)."""
    summary = json.loads((folder / "summary.json").read_text())
    from mda_curate.validation.stats import CENSORING, INTERVALS, SPEEDUP, RunResult, summarize_runs

    branch = {s["seed"]: s["window"][0] for s in summary["seeds"]}
    runs = []
    for run in summary["runs"]:
        run = {**run, "branch_step": branch[run["seed"]], "compared_at": run.get("compared_at", run["last_step"])}
        run["left_censored"] = run.get("left_censored", run["formation_step"] <= run["branch_step"])
        runs.append(run)
    confidence = summary.get("intervals", {}).get("confidence", summary.get("bootstrap", {}).get("confidence", 0.95))
    stats = summarize_runs([RunResult(**run) for run in runs], confidence)
    out = {k: v for k, v in summary.items() if k != "bootstrap"}  # keys keep their places: reruns change nothing
    rule = summary.get("formation_rule", "")
    former = "later of the two" in rule or "former rule" in rule
    if former or not rule:
        out["formation_rule"] = FORMER_RULE
        out["notes"] = [NOT_RECOMPUTED]
    compared = {}
    for run in runs:
        compared[run["seed"]] = min(compared.get(run["seed"], run["compared_at"]), run["compared_at"])
    out["arms"] = stats["arms"]
    out["comparisons"] = stats["comparisons"]
    out["runs"] = runs
    out["censoring"] = CENSORING
    out["speedup_definition"] = SPEEDUP
    out["intervals"] = {"method": INTERVALS, "confidence": confidence, "over": "seeds"}
    out["setup"] = summary.get("setup") or _setup_line(folder)
    out["seeds"] = [
        {**s, "branch_step": s["window"][0], "compared_at": s.get("compared_at") or compared[s["seed"]]}
        for s in summary["seeds"]
    ]
    return out


def _setup_line(folder: Path) -> str:
    """The set-up sentence of a report written before summaries carried it (its ``Spec:`` line)."""
    return next(line for line in (folder / "report.md").read_text().splitlines() if line.startswith("Spec: "))


def validation_files() -> dict[Path, str | bytes]:
    """Each experiment's recomputed ``summary.json`` and its ``report.md`` (text) and ``formation.png``."""
    from mda_curate.validation.report import finite_json, markdown

    files: dict[Path, str | bytes] = {}
    for folder in validation_experiments():
        summary = recompute_summary(folder)
        files[folder / "summary.json"] = json.dumps(finite_json(summary), indent=2) + "\n"
        files[folder / "report.md"] = markdown(summary)
    return files


def summaries() -> dict[str, dict]:
    """Every validation experiment's summary as ``validation_files`` would write it, by folder name."""
    from mda_curate.validation.report import finite_json

    return {f.name: finite_json(recompute_summary(f)) for f in validation_experiments()}


def _cell(stat: dict, fmt: str) -> str:
    from mda_curate.validation.report import interval_cell

    return interval_cell(stat, fmt, with_n=False)  # the tables state n in a column


def table(columns: list[str], rows: list[list[str]]) -> str:
    from mda_curate.validation.report import markdown_table

    return markdown_table(columns, rows)


def experiment_table(name: str) -> str:
    """One experiment: per-seed formation steps and each arm's statistics."""
    from mda_curate.validation.report import seed_cell

    summary = summaries()[name]
    seeds = [s["seed"] for s in summary["seeds"]]
    runs = {(r["arm"], r["seed"]): r for r in summary["runs"]}
    rows = []
    for arm, a in summary["arms"].items():
        cells = [seed_cell(runs.get((arm, s)), runs.get(("baseline", s))) for s in seeds]
        prose = a["heldout_loss_change"].get("prose", {"mean": None})
        rows.append(
            [
                arm.replace("_", " "),
                *cells,
                str(a["seeds"]),
                _cell(a["speedup_post_branch"], "{:.3f}"),
                _cell(a["speedup"], "{:.3f}"),
                _cell(a["formation_delay"], "{:+,.0f}"),
                a["vs_baseline"] or "-",
                _cell(prose, "{:+.1%}"),
            ]
        )
    columns = [
        "arm",
        *(f"seed {s}" for s in seeds),
        "n",
        "speed-up after branch [95% CI]",
        "speed-up absolute [95% CI]",
        "delay, steps [95% CI]",
        "vs baseline",
        "prose loss change [95% CI]",
    ]
    return table(columns, rows)


def comparisons_table(name: str) -> str:
    """One experiment's key arm-vs-arm comparisons, paired on seeds."""
    rows = []
    for c in summaries()[name]["comparisons"]:
        pair = tuple(c["arms"])
        if pair not in KEY_PAIRS and pair[::-1] not in KEY_PAIRS:
            continue
        steps, post = c["formation_step_difference"], c["speedup_post_branch_difference"]
        rows.append(
            [
                f"{pair[0]} − {pair[1]}".replace("_", " "),
                str(steps["n"]),
                _cell(steps, "{:+,.0f}"),
                _cell(post, "{:+.3f}"),
                c["first_forms"],
            ]
        )
    columns = [
        "first − second arm",
        "n",
        "formation step difference [95% CI]",
        "post-branch speed-up difference [95% CI]",
        "first arm forms",
    ]
    return table(columns, rows) if rows else "(no pair of compared arms)\n"


HEADLINE = [  # (experiment, arm, control): the README's headline rows
    ("cpu-wide-window-spread", "targeted_augmentation", "random_augmentation"),
    ("cpu-wide-window-displace", "targeted_augmentation", "random_augmentation"),
    ("cpu-wide-window-influence-classifier", "classifier_upsampling", "targeted_augmentation"),
    ("cpu-wide-window-synthetic", "synthetic_augmentation", "random_insertion"),
    ("cpu-wide-window", "targeted_removal", "random_removal"),
    ("cpu-3l-small-share", "targeted_removal", "random_removal"),
]


def headline_table() -> str:
    """The README's headline: per experiment, an arm and its control, their post-branch speed-ups and the paired
    per-seed difference of their formation steps."""
    every = summaries()
    rows = []
    for name, arm, control in HEADLINE:
        summary = every[name]
        a, c = summary["arms"][arm], summary["arms"][control]
        pair = next(p for p in summary["comparisons"] if set(p["arms"]) == {arm, control})
        diff = pair["formation_step_difference"]
        if pair["arms"] != [arm, control]:
            lo, hi = diff["ci"]
            diff = {**diff, "mean": -diff["mean"], "ci": [None, None] if lo is None else [-hi, -lo]}
        verdict = (
            "one seed: no interval"
            if diff["ci"][0] is None
            else "not distinguishable"
            if not diff["differs"]
            else "arm earlier"
            if diff["ci"][1] < 0
            else "arm later"
        )
        rows.append(
            [
                f"[{name}](benchmarks/validation/{name}/report.md)",
                str(diff["n"]),
                arm.replace("_", " "),
                _cell(a["speedup_post_branch"], "{:.2f}"),
                control.replace("_", " "),
                _cell(c["speedup_post_branch"], "{:.2f}"),
                _cell(diff, "{:+,.0f}"),
                verdict,
            ]
        )
    columns = [
        "experiment",
        "seeds",
        "arm",
        "speed-up after branch [95% CI]",
        "control",
        "control's [95% CI]",
        "arm − control, formation step [95% CI]",
        "paired verdict",
    ]
    return table(columns, rows)


def overview_table(link: str = "") -> str:
    """Every validation experiment: seeds, arms, and where its files are (links relative to ``link``)."""
    rows = []
    for name, summary in summaries().items():
        former = "former rule" in summary["formation_rule"]
        arms = ", ".join(a.replace("_", " ") for a in summary["arms"])
        rows.append(
            [
                f"[{name}]({link}{name}/report.md)",
                str(len(summary["seeds"])),
                arms,
                ", ".join(str(s["window"][0]) for s in summary["seeds"]),
                "former rule, not recomputable" if former else "current rule",
            ]
        )
    return table(["experiment", "seeds", "arms", "branch step per seed", "formation steps"], rows)


# ------------------------------------------------------------------------------------------ formation window


CTX = 128  # the cpu-tiny preset's context length, which the sweep's recipe leaves at the preset's value


def formation_window() -> dict:
    return json.loads((BENCH / "formation_window" / "formation_window.json").read_text())


def formation_of(run: dict):
    from mda_curate.units.formation import StepSummary, formation

    steps = [
        StepSummary(
            t["step"],
            t["best_induction"],
            (0, 0),
            t["best_previous_token"],
            (0, 0),
            t["induction_loss_drop"],
            t["icl_score"],
        )
        for t in run["trajectory"]
    ]
    return formation(steps)


def formation_window_json() -> str:
    """The sweep's JSON with each run's formation step recomputed from its trajectory under the current rule."""
    from mda_curate.validation.stats import FORMATION_RULE

    data = formation_window()
    data["formation_rule"] = FORMATION_RULE
    for run in data["runs"]:
        formed = formation_of(run)
        run["formation_step"] = formed.step
        run["formation_left_censored"] = formed.left_censored
        run["formation_tokens"] = None if formed.step is None else formed.step * data["recipe"]["batch_size"] * CTX
    return json.dumps(data, indent=2) + "\n"


def formation_window_table() -> str:
    data = json.loads(formation_window_json())
    seeds = sorted({r["seed"] for r in data["runs"]})
    shares = sorted({r["catalyst_share"] for r in data["runs"]})
    runs = {(r["catalyst_share"], r["seed"]): r for r in data["runs"]}
    rows = []
    for share in shares:
        cells = []
        for seed in seeds:
            r = runs[(share, seed)]
            cells.append(
                f"{r['formation_step']:,.0f}"
                if r["formation_step"] is not None
                else f"not formed by {r['steps_trained']:,} (best induction {r['final_best_induction']:.2f}, "
                f"loss drop {r['final_induction_loss_drop']:.2f} nats)"
            )
        formed = [runs[(share, s)]["formation_step"] for s in seeds if runs[(share, s)]["formation_step"] is not None]
        mean = f"{sum(formed) / len(formed):,.0f} (n={len(formed)})" if formed else "-"
        rows.append([f"{share:g}", *cells, mean])
    return table(["catalyst share", *(f"seed {s}" for s in seeds), "mean of formed"], rows)


# --------------------------------------------------------------------------------------- natural formation

NATURAL_RUNS = BENCH / "natural_formation" / "runs"


def natural_run_table() -> str:
    """One row per natural-only pilot run: its levers, tokens and logged training hours, and its units at the last scored step."""
    rows = []
    for run in sorted(p for p in NATURAL_RUNS.iterdir() if (p / "config.json").is_file()):
        config = json.loads((run / "config.json").read_text())["train"]
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        tokens_per_step = config["batch_size"] * config["context_length"]
        hours = sum(config["log_every"] * tokens_per_step / row["tokens_per_s"] for row in log) / 3600
        steps = log[-1]["step"] + 1
        mix = ", ".join(f"{d} {w:g}" for d, w in config["mix"].items())
        rows.append(
            [
                f"`{run.name}`",
                config["preset"],
                f"{config['context_length']} x {config['batch_size']}",
                mix,
                f"{config['lr']:g}",
                f"{steps:,}",
                f"{steps * tokens_per_step / 1e6:.0f}M",
                f"{hours:.2f}",
                *_natural_units(run),
            ]
        )
    return table(
        [
            "run",
            "model",
            "ctx x batch",
            "mix",
            "lr",
            "steps",
            "tokens",
            "wall hours",
            "last scored step",
            "best induction",
            "best previous-token (layer 0's)",
            "induction-loss drop",
            "formation",
        ],
        rows,
    )


def _natural_units(run: Path) -> list[str]:
    """The units at the run's last scored checkpoint and its formation step under the current rule."""
    import pyarrow.parquet as pq

    from mda_curate.units.formation import formation, summarize_steps

    scores = run / "unit_scores.parquet"
    if not scores.is_file():
        return ["-", "-", "-", "-", "not scored (stopped early)"]
    rows = pq.read_table(scores).to_pylist()
    summaries = summarize_steps(rows)
    last = summaries[-1]
    layer0 = max((r for r in rows if r["step"] == last.step and r["layer"] == 0), key=lambda r: r["previous_token"])
    formed = formation(summaries)
    outcome = f"step {formed.step:,.0f}" if formed.step is not None else f"not formed by step {last.step:,}"
    ind_head, prev_head = last.best_induction_head, last.best_previous_token_head
    return [
        f"{last.step:,}",
        f"{last.best_induction:.3f} (L{ind_head[0]}H{ind_head[1]})",
        f"{last.best_previous_token:.2f} (L{prev_head[0]}H{prev_head[1]}; {layer0['previous_token']:.2f})",
        f"{last.induction_loss_drop:+.2f}",
        outcome,
    ]


def natural_repetition_table() -> str:
    """Share of positions a perfect two-token induction rule predicts, per domain and context length."""
    shares = load("natural_formation/repetition.json")["induction_predictable"]
    contexts = list(next(iter(shares.values())))
    rows = [[domain, *(f"{by_ctx[c]:.2f}" for c in contexts)] for domain, by_ctx in shares.items()]
    return table(["domain", *(f"ctx {c}" for c in contexts)], rows)


def natural_copying_table() -> str:
    """Loss on the first and second copy of repeated held-out text and random tokens, per model."""
    rows = []
    for name, kinds in load("natural_formation/repetition.json")["copying"].items():
        rows.append(
            [
                f"`{name}`",
                *(
                    cell
                    for kind in ("natural", "random")
                    for cell in (
                        f"{kinds[kind]['loss_first']:.2f} → {kinds[kind]['loss_second']:.2f}",
                        f"{kinds[kind]['best_prefix_matching']:.3f}",
                    )
                ),
            ]
        )
    return table(
        [
            "model",
            "held-out text: loss 1st → 2nd copy",
            "prefix matching",
            "random tokens: loss 1st → 2nd copy",
            "prefix matching",
        ],
        rows,
    )


# --------------------------------------------------------------------------------------- natural catalysts

# each report and cross-seed file with the natural-formation seed(s) of the runs it read (the run folders are
# copies of benchmarks/natural_formation/runs/3l-ctx256-b32-lr3e-3-s<seed>, not committed themselves)
NATURAL_REPORTS = {
    "natural_catalysts/induction_report/report.json": 3,
    "natural_catalysts/seed4_report/report.json": 4,
}
CROSS_SEED = {"cross_seed.json": (3, 4), "cross_seed_s4_to_s3.json": (4, 3)}


def natural_reports() -> list[tuple[str, dict]]:
    """Every scores file's section of the natural catalyst reports, as (column label, section)."""
    return [
        (f"seed {seed}: `{report['name']}`", report)
        for path, seed in NATURAL_REPORTS.items()
        for report in load(path)["reports"]
    ]


def natural_domain_table() -> str:
    """Mean influence percentile per domain [95% t-interval over samples] and lift in the top 10%, per report."""
    sections = natural_reports()
    domains = sorted({row["group"] for _, report in sections for row in report["by_domain"]})
    rows = []
    for domain in domains:
        cells = []
        for _, report in sections:
            row = next(r for r in report["by_domain"] if r["group"] == domain)
            cells.append(
                f"{row['mean_percentile']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] (n={row['n']:,}); "
                f"lift {row['lift']:.2f}"
            )
        rows.append([domain, *cells])
    header = ["domain", *(label for label, _ in sections)]
    return table(header, rows) + "\n\n" + natural_report_notes(sections)


def natural_report_notes(sections: list[tuple[str, dict]]) -> str:
    """What each column scored, its held-out R² from features, and the reports' agreements over shared samples."""
    lines = []
    for label, report in sections:
        p, r2 = report["provenance"], report["feature_model"]["r2"]
        lines.append(
            f"- {label}: unit {p['unit']} ({p['probe']['probe']} probe) at `{Path(p['checkpoint']).name}`, window steps "
            f"{p['window'][0]}:{p['window'][1]}, {report['samples']:,} samples; held-out R² of the percentile from "
            f"the features {r2['ridge']:+.3f} (ridge), {r2['hist_gradient_boosting']:+.3f} (boosting), from the "
            f"domain alone {r2['domain_only_ridge']:+.3f}"
        )
    for path in NATURAL_REPORTS:
        for pair in load(path)["agreement"]:
            if pair["spearman"] is not None:
                lines.append(
                    f"- Spearman of `{pair['a']}` and `{pair['b']}` over their {pair['shared_samples']:,} shared "
                    f"samples: {pair['spearman']:+.3f}"
                )
    return "\n".join(lines)


def natural_cross_seed_table() -> str:
    """Influence labels of one seed's window checked on another seed's: AUROC of ours and fastText, docs/s."""
    rows = []
    for name, seeds in CROSS_SEED.items():
        d = load(f"natural_catalysts/{name}")
        ours = d["ours"]["classifier"] if d["ours"]["classifier"] != "trained here" else d["ours"]["model"]
        for subset, label in (("all", "all"), ("unseen_documents", "documents unseen in the label window")):
            a = d["heldout_auroc"][subset]
            rows.append(
                [
                    f"seed {seeds[0]} → seed {seeds[1]}",
                    f"`{ours}`",
                    f"{label}: {a['n']:,} ({a['documents']} documents)",
                    *(
                        f"{a[m]['auroc']:+.3f} [{a[m]['interval'][0]:+.3f}, {a[m]['interval'][1]:+.3f}]"
                        if m == "ours_minus_fasttext"
                        else f"{a[m]['auroc']:.3f} [{a[m]['interval'][0]:.3f}, {a[m]['interval'][1]:.3f}]"
                        for m in ("ours", "fasttext", "ours_minus_fasttext")
                    ),
                    f"{d['throughput']['ratio_ours_over_fasttext']:.1f}x" if subset == "all" else "",
                    f"{d['heldout_corpus']['spearman_with_proxy']:+.3f}" if subset == "all" else "",
                ]
            )
    return table(
        [
            "labels → checked on",
            "ours",
            "checked samples",
            "AUROC ours [95% CI]",
            "AUROC fastText [95% CI]",
            "ours − fastText [95% CI]",
            "docs/s ours / fastText",
            "Spearman with the proxy (held-out corpus)",
        ],
        rows,
    )


def natural_heldout_table() -> str:
    """How the default classifier ranks the held-out corpus by domain, beside the proxy classifier."""
    h = load("natural_catalysts/cross_seed.json")["heldout_corpus"]
    rows = [
        [
            domain,
            f"{h['per_domain'][domain]['n']}",
            f"{h['per_domain'][domain]['mean']:.3f}",
            f"{h['per_domain'][domain]['catalyst_rate']:.2f}",
            f"{h['proxy_per_domain'][domain]['mean']:.3f}",
        ]
        for domain in h["domains_by_mean_score"]
    ]
    return table(["domain", "documents", "default: mean score", "default: catalyst rate", "proxy: mean score"], rows)


# -------------------------------------------------------------------------------------------- other benchmarks


def load(path: str) -> dict:
    return json.loads((BENCH / path).read_text())


def influence_speed_table() -> str:
    d = load("influence/influence.json")
    head, r = d["per_head"], d["ratios"]
    rows = [
        ["per-head scoring, batched", f"{head['batched_tokens_per_s']:,.0f}"],
        ["per-head scoring, batch size 1", f"{head['batch1_tokens_per_s']:,.0f}"],
        ["per-sample full backward, one at a time", f"{head['paper_style_batch1_tokens_per_s']:,.0f}"],
        ["one training step", f"{d['training_step_tokens_per_s']:,.0f}"],
        ["module mode (all linear layers)", f"{d['kronfluence']['ours']['score_tokens_per_s']:,.0f}"],
        ["kronfluence 1.0.1, same modules", f"{d['kronfluence']['kronfluence']['score_tokens_per_s']:,.0f}"],
    ]
    out = table(["scorer", "training-sample tokens/s"], rows)
    ratios = ", ".join(f"{k.replace('_', ' ')} {v:.2f}×" for k, v in r.items() if k != "spearman_vs_kronfluence")
    peer = d["kronfluence"]
    return out + (
        f"\nRatios: {ratios}. Module mode vs kronfluence: Spearman {peer['spearman']:.7f}, largest "
        f"relative difference {peer['max_relative_difference']:.1e}.\n"
    )


def end_to_end_table() -> str:
    d = load("influence/end_to_end.json")
    rows = []
    for name, r in d["results"].items():
        ours, peer = (r["runs"][tool] for tool in ("mda-curate", "kronfluence"))
        rows.append(
            [
                f"{r['documents']:,}",
                "separate set" if "factors-data" in name else "the scored set",
                " / ".join(f"{run['wall_s']:.1f}" for run in ours),
                " / ".join(f"{run['wall_s']:.1f}" for run in peer),
                f"{r['ratio']:.2f}×",
                " / ".join(f"{run['cpu_s']:.1f}" for run in ours),
                " / ".join(f"{run['cpu_s']:.1f}" for run in peer),
                f"{r['spearman']:.4f}",
            ]
        )
    columns = [
        "documents",
        "factors fitted on",
        "mda-curate s (per round)",
        "kronfluence s",
        "speed-up (mean of rounds)",
        "mda-curate CPU s",
        "kronfluence CPU s",
        "Spearman",
    ]
    return table(columns, rows) + (
        f"\n{d['tokens_per_document']} tokens per document, {d['query_documents']} query documents, model "
        f"`{d['model']}`, {d['rounds']} rounds; wall seconds of whole processes, start-up included.\n"
    )


def ground_truth_table() -> str:
    d = load("influence/influence_ground_truth.json")
    rows = []
    for arm, a in d["arms"].items():
        effect = d["effect_vs_baseline"].get(arm, {})
        rows.append(
            [
                arm,
                str(a["masked"]),
                _num(a["formation_step"], "{:,.0f}"),
                f"{a['unit_induction_mean']:.3f}",
                _num(effect.get("unit_induction_mean"), "{:+.3f}"),
                _num(effect.get("induction_loss_drop_mean"), "{:+.3f}"),
            ]
        )
    columns = [
        "arm",
        "samples masked",
        "formation step (former rule)",
        "mean unit induction",
        "Δ vs baseline",
        "Δ mean loss drop (nats)",
    ]
    return table(columns, rows)


def lds_table() -> str:
    d = load("influence/influence_lds.json")
    rows = [[name, f"{s['lds']:.2f}", f"[{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]"] for name, s in d["lds"].items()]
    chance = d["chance_level_random_scores"]
    lo, hi = chance["central95"]
    rows.append(["random scores (chance)", f"{chance['mean']:.2f}", f"[{lo:.2f}, {hi:.2f}]"])
    columns = ["scores", "LDS (Spearman)", "95% interval (bootstrap over subsets; chance: central 95% of draws)"]
    return table(columns, rows) + f"\n{d['subsets']} random halves of the {d['window_samples']:,} window samples.\n"


def classifier_table() -> str:
    rows = []
    for name, path in (
        ("proxy (domain) labels", "classifier/classifier_vs_fasttext.json"),
        ("influence labels, seed-1 window", "classifier/classifier_vs_fasttext_influence.json"),
    ):
        d = load(path)
        h, t = d["heldout"], d["throughput"]
        rows.append(
            [
                name,
                f"{h['ours']['auroc']:.3f}",
                f"{h['fasttext']['auroc']:.3f}",
                f"{t['docs_per_s']['ours']:,.0f}",
                f"{t['docs_per_s']['fasttext']:,.0f}",
                f"{t['ratio_ours_over_fasttext']:.1f}×",
            ]
        )
    return table(["labels", "held-out AUROC, ours", "fastText", "docs/s, ours", "fastText", "ratio"], rows)


def pipeline_table() -> str:
    rows = []
    for name in ("pipeline_overhead", "pipeline_overhead_gzip", "pipeline_overhead_max1536"):
        d = load(f"pipeline_overhead/{name}.json")
        per_round = d["ratio_score_filter_vs_plain_per_round"]
        rows.append(
            [
                f"`{name}.json`",
                d["input"]["compression"] or "none",
                Path(d["classifier"]["path"]).name,
                f"{d['ratio_score_filter_vs_plain']:.2f}×",
                f"{per_round['range'][0]:.2f}–{per_round['range'][1]:.2f}×",
                f"{d['ratio_machinery_vs_plain']:.2f}×",
                f"{d['mb_per_s_per_core']['plain']:.1f}",
                f"{d['mb_per_s_per_core']['score_filter']:.1f}",
            ]
        )
    return table(
        [
            "file",
            "compression",
            "classifier",
            "score+filter / plain",
            "per round",
            "machinery / plain",
            "plain MB/s",
            "score+filter MB/s",
        ],
        rows,
    )


def trainer_table() -> str:
    d = load("trainer_throughput/trainer_throughput.json")
    rows = [
        ["bare PyTorch loop", f"{d['bare_loop_tokens_per_s']:,}", "1.00×"],
        [
            "trainer, without checkpoint saves",
            f"{d['trainer_tokens_per_s_without_checkpoint_saves']:,}",
            f"{d['ratio_median_without_checkpoint_saves']:.2f}×",
        ],
        [
            "trainer, with checkpoint saves",
            f"{d['trainer_tokens_per_s_with_checkpoint_saves']:,}",
            f"{d['ratio_median_with_checkpoint_saves']:.2f}×",
        ],
    ]
    rounds = f"\n{d['rounds']} rounds of {d['steps_per_run']} steps.\n"
    return table(["loop", "tokens/s", "median ratio"], rows) + rounds


def _num(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


TABLES: dict[str, Callable[[], str]] = {
    "headline": headline_table,
    "validation-overview": overview_table,
    "validation-index": lambda: overview_table("validation/"),
    "formation-window": formation_window_table,
    "influence-speed": influence_speed_table,
    "influence-end-to-end": end_to_end_table,
    "influence-ground-truth": ground_truth_table,
    "influence-lds": lds_table,
    "classifier": classifier_table,
    "pipeline-overhead": pipeline_table,
    "trainer-throughput": trainer_table,
    "natural-formation": natural_run_table,
    "natural-repetition": natural_repetition_table,
    "natural-copying": natural_copying_table,
    "natural-catalyst-domains": natural_domain_table,
    "natural-cross-seed": natural_cross_seed_table,
    "natural-heldout-ranking": natural_heldout_table,
}


def render(name: str) -> str:
    if name in TABLES:
        return TABLES[name]()
    kind, _, experiment = name.partition("/")
    return {"validation": experiment_table, "comparisons": comparisons_table}[kind](experiment)


def documents() -> dict[Path, str]:
    """Each doc with its results blocks re-rendered."""
    out = {}
    for doc in DOCS:
        path = ROOT / doc
        if path.exists():
            text = path.read_text()
            out[path] = BLOCK.sub(lambda m: m.group(1) + render(m.group(2)) + m.group(4), text)
    return out


def generated() -> dict[Path, str]:
    """Every text file ``make results`` writes, with its content."""
    files = dict(validation_files())
    files[BENCH / "formation_window" / "formation_window.json"] = formation_window_json()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    args = parser.parse_args()
    stale = []
    for stage in (generated, documents):  # the docs read the JSON the first stage writes
        for path, text in stage().items():
            if path.read_text() != text:
                stale.append(path.relative_to(ROOT))
                if not args.check:
                    path.write_text(text)
    if not args.check:
        plot_validation()
    for path in stale:
        print(("stale: " if args.check else "wrote ") + str(path))
    return 1 if stale and args.check else 0


def plot_validation() -> None:
    """Each experiment's ``formation.png`` from its summary."""
    from mda_curate.validation.report import plot_formation

    for folder in validation_experiments():
        plot_formation(json.loads((folder / "summary.json").read_text()), folder / "formation.png")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
