"""The CPU-scale validation experiments: every arm of ``examples/validation/cpu-formation.toml`` (seeds 0
and 1, k = 10% of 250 steps just before formation) or of ``cpu-wide-window.toml`` (seeds 0-2, k = 30%
of the 2,000 steps from step 3,000, two copies; ``-synthetic.toml``: baseline, synthetic and
random-insertion arms on seeds 0-2; ``-spread.toml``: the augmentation arms with their copies spread over
the window; ``-influence-classifier.toml``: its classifier arm with classifiers trained on another seed's
influence labels) or of ``cpu-3l-small-share.toml`` (the 3-layer model at catalyst share 0.3, seed 1, influence
attributed at the window's end; ``-window-start.toml``: its targeted removal with the scores attributed
at the window start) or ``cpu-wide-window-displace.toml`` (the spread experiment at a fixed token
budget: augmentation masks as many other window samples as it adds rows, arm-runs stop after
formation; ``-displace-1copy.toml``: the same with one copy, a dose test), via the harness
(``mda_curate.validation``).

Writes ``benchmarks/validation.json`` (the harness's ``summary.json`` with the command, machine and
versions), ``benchmarks/validation_scores.png``, ``benchmarks/validation_formation.png`` and
``benchmarks/validation.md``; the arm-runs and ``results.parquet`` stay in ``--work``. Resumable: rerun
the same command after a kill. The synthetic documents are generated first when missing (and an arm run
inserts them), by
``mda-curate augment generate`` from the committed motif profile of the seed-1 window
(``examples/augment/window_s1_profile.json``), as many tokens as the synthetic arm inserts; then the
random-insertion control, by ``mda-curate augment control``: random documents of the training mix's
domains with the same token count. Commands:

    python benchmarks/validation.py --workers 2
    python benchmarks/validation.py --workers 5 --spec examples/validation/cpu-wide-window.toml \
        --work runs/validation/cpu-wide-window --out benchmarks/validation_wide
    python benchmarks/validation.py --workers 2 --spec examples/validation/cpu-wide-window-synthetic.toml \
        --work runs/validation/cpu-wide-window-synthetic --out benchmarks/validation_synthetic
    python benchmarks/validation.py --workers 2 --spec examples/validation/cpu-wide-window.toml \
        --arms classifier_upsampling --default-classifier --work runs/validation/cpu-wide-window-classifier \
        --out benchmarks/validation_wide_classifier
    python benchmarks/validation.py --workers 2 --spec examples/validation/cpu-wide-window-spread.toml \
        --work runs/validation/cpu-wide-window-spread --out benchmarks/validation_spread
    python benchmarks/validation.py --workers 2 --spec examples/validation/cpu-wide-window-influence-classifier.toml \
        --work runs/validation/cpu-wide-window-influence-classifier --out benchmarks/validation_influence_classifier
    python benchmarks/validation.py --workers 2 --spec examples/validation/cpu-3l-small-share.toml \
        --work runs/validation/cpu-3l-small-share --out benchmarks/validation_small_share
    python benchmarks/validation.py --workers 1 --spec examples/validation/cpu-3l-small-share-window-start.toml \
        --work runs/validation/cpu-3l-small-share-window-start --out benchmarks/validation_small_share_window_start
    python benchmarks/validation.py --workers 2 --spec examples/validation/cpu-wide-window-displace.toml \
        --work runs/validation/cpu-wide-window-displace --out benchmarks/validation_displace
    python benchmarks/validation.py --workers 2 --spec examples/validation/cpu-wide-window-displace-1copy.toml \
        --work runs/validation/cpu-wide-window-displace-1copy --out benchmarks/validation_displace_1copy

(the influence-classifier one after ``benchmarks/window_classifiers.py``, which trains its classifiers; the
1-copy one reuses the displace experiment's baseline arm-runs when copied into its ``--work``, as its spec
says, and trains the same baselines otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent / "examples" / "validation" / "cpu-formation.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(SPEC))
    parser.add_argument("--work", default="runs/validation/cpu-formation", help="the harness's output folder")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--arms", help="a,b,...: only these arms (default: the spec's)")
    parser.add_argument("--out", default=str(HERE / "validation"), help="output prefix (.json, .md, _scores.png, _formation.png)")
    parser.add_argument("--default-classifier", action="store_true",
                        help="the classifier arm uses the package's current default classifier, not the spec's (arms or seeds)")
    args = parser.parse_args()

    import torch
    import transformers

    from mda_curate.validation import load_spec, run_experiment
    from mda_curate.validation.spec import parse_arms

    spec = load_spec(args.spec)
    if args.default_classifier:
        seeds = tuple(replace(seed, classifier=None) for seed in spec.seeds)
        spec = replace(spec, arms=replace(spec.arms, classifier=None), seeds=seeds)
    arms = parse_arms(args.arms) if args.arms else spec.arms.run
    make_inserted_files(spec, arms)
    started = time.perf_counter()
    summary = run_experiment(spec, args.work, arms, args.workers)
    work = Path(args.work)
    result = {
        "what": "validation harness on the CPU formation-window runs: formation step, speed-up and unit induction per arm",
        "spec": Path(args.spec).read_text(),
        "classifier": describe_classifiers(spec) if "classifier_upsampling" in arms else None,
        "command": f"python benchmarks/validation.py {' '.join(sys.argv[1:])}".strip(),
        "seconds_this_session": round(time.perf_counter() - started, 1),
        "machine": {"nproc": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__},
        **summary,
    }
    Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    report = (work / "report.md").read_text()
    for name in ("scores", "formation"):
        shutil.copyfile(work / f"{name}.png", f"{args.out}_{name}.png")
        report = report.replace(f"({name}.png)", f"({Path(args.out).name}_{name}.png)")
    Path(args.out + ".md").write_text(report)


def describe_classifiers(spec) -> dict:
    """Each seed's classifier-arm classifier: its folder (``default``: the package's) and model sha256."""
    from mda_curate.classifier import load_classifier

    paths = {f"seed{seed.seed}": spec.classifier(seed) for seed in spec.seeds}
    return {
        name: {"path": str(path) if path else "default", "sha256": load_classifier(path).card["artifact"]["sha256"]}
        for name, path in paths.items()
    }


def make_inserted_files(spec, arms) -> None:
    """Generate the synthetic documents, then the random-document control, where the spec names a missing file
    that one of ``arms`` inserts."""
    from mda_curate.cli import main as cli
    from mda_curate.validation.arms import INSERTED_FILES

    commands = []
    inserting = set(INSERTED_FILES) & set(arms)
    if inserting and spec.arms.synthetic is not None and not spec.arms.synthetic.exists():
        profile = HERE.parent / "examples" / "augment" / "window_s1_profile.json"
        commands.append(["augment", "generate", "--profile", str(profile), "--tokens", str(synthetic_tokens(spec)),
                         "--tokenizer", str(spec.tokenizer), "--seed", "0", "--out", str(spec.arms.synthetic)])
    if "random_insertion" in arms and spec.arms.random_documents is not None and not spec.arms.random_documents.exists():
        domains = ["--domains", *spec.train.mix] if spec.train.mix else []
        commands.append(["augment", "control", "--synthetic", str(spec.arms.synthetic), "--corpus", *map(str, spec.data),
                         *domains, "--tokenizer", str(spec.tokenizer), "--seed", "0", "--out", str(spec.arms.random_documents)])
    for argv in commands:
        if cli(argv) != 0:
            sys.exit(f"`mda-curate {' '.join(argv[:2])}` failed (see above)")


def synthetic_tokens(spec) -> int:
    """Tokens of synthetic documents the synthetic arm inserts in its longest window, plus 10% for packing
    (rounded up to a million)."""
    from mda_curate.validation.arms import synthetic_rows_per_step

    rows = 0
    for seed in spec.seeds:
        steps = seed.window[1] - seed.window[0]
        rows = max(rows, synthetic_rows_per_step(spec, seed, spec.arms.count(steps * spec.train.batch_size)) * steps)
    return -(-int(1.1 * rows * (spec.train.ctx + 1)) // 1_000_000) * 1_000_000


if __name__ == "__main__":
    main()
