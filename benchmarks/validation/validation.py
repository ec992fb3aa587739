"""The CPU-scale validation experiments: every arm of an experiment spec in ``examples/validation/``
(default ``cpu-formation.toml``), run by the harness (``mda_curate.validation``). What each experiment
tests and its results: ``benchmarks/validation/README.md``.

Writes ``benchmarks/validation/<spec name>/`` (or ``--out``): ``summary.json`` (the harness's, with the
command, machine and versions), ``scores.png``, ``formation.png`` and ``report.md``; the arm-runs and
``results.parquet`` stay in ``--work``. Resumable: rerun the same command after a kill. The synthetic
documents are generated first when missing (and an arm run inserts them), by ``mda-curate augment
generate`` from the committed motif profile of the seed-1 window (``examples/augment/window_s1_profile.json``),
as many tokens as the synthetic arm inserts; then the random-insertion control, by ``mda-curate augment
control``: random documents of the training mix's domains with the same token count. Commands (from the
repository root; each spec's header repeats its own):

    python benchmarks/validation/validation.py --workers 2
    python benchmarks/validation/validation.py --workers 5 --spec examples/validation/cpu-wide-window.toml \
        --work runs/validation/cpu-wide-window
    python benchmarks/validation/validation.py --workers 2 --spec examples/validation/cpu-wide-window.toml \
        --arms classifier_upsampling --classifier classifiers/catalyst-proxy --work runs/validation/cpu-wide-window-classifier \
        --out benchmarks/validation/cpu-wide-window-classifier
    python benchmarks/validation/validation.py --workers 2 --spec examples/validation/SPEC.toml \
        --work runs/validation/SPEC    # SPEC: cpu-wide-window-synthetic, -spread, -influence-classifier,
                                       # -displace, -displace-1copy, -displace-top10, cpu-3l-small-share(-window-start),
                                       # natural-removal-pilot, natural-removal, natural-upsampling

(the influence-classifier one after ``benchmarks/classifier/window_classifiers.py``, which trains its
classifiers; the 1-copy one reuses the displace experiment's baseline arm-runs when copied into its
``--work``, as its spec says, and trains the same baselines otherwise).
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
ROOT = HERE.parents[1]
SPEC = ROOT / "examples" / "validation" / "cpu-formation.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(SPEC))
    parser.add_argument("--work", default="runs/validation/cpu-formation", help="the harness's output folder")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--arms", help="a,b,...: only these arms (default: the spec's)")
    parser.add_argument("--seeds", help="s,s,...: only these seeds (default: the spec's); the report covers all done")
    parser.add_argument("--out", help="output folder (default: benchmarks/validation/<the spec file's name>)")
    parser.add_argument(
        "--classifier",
        metavar="DIR",
        help="the classifier arm uses this classifier folder for every seed, not the spec's (arms or seeds)",
    )
    args = parser.parse_args()

    import torch
    import transformers

    from mda_curate.validation import load_spec, run_experiment
    from mda_curate.validation.spec import parse_arms, parse_seeds

    spec = load_spec(args.spec)
    if args.classifier:
        seeds = tuple(replace(seed, classifier=None) for seed in spec.seeds)
        spec = replace(spec, arms=replace(spec.arms, classifier=Path(args.classifier).resolve()), seeds=seeds)
    arms = parse_arms(args.arms) if args.arms else spec.arms.run
    make_inserted_files(spec, arms)
    started = time.perf_counter()
    seeds = parse_seeds(args.seeds, spec) if args.seeds else None
    summary = run_experiment(spec, args.work, arms, args.workers, seeds=seeds)
    work = Path(args.work)
    result = {
        "what": "validation harness on the CPU formation-window runs: formation step, speed-up and unit induction per arm",
        "spec": Path(args.spec).read_text(),
        "classifier": describe_classifiers(spec) if "classifier_upsampling" in arms else None,
        "command": f"python benchmarks/validation/validation.py {' '.join(sys.argv[1:])}".strip(),
        "seconds_this_session": round(time.perf_counter() - started, 1),
        "machine": {"nproc": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        **summary,
    }
    out = Path(args.out or HERE / Path(args.spec).stem)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    for name in ("scores.png", "formation.png", "report.md"):
        shutil.copyfile(work / name, out / name)


def describe_classifiers(spec) -> dict:
    """Each seed's classifier-arm classifier: its folder (``default``: the package's) and model sha256."""
    from mda_curate.classifier import load_classifier

    paths = {f"seed{seed.seed}": spec.classifier(seed) for seed in spec.seeds}
    return {
        name: {"path": str(path) if path else "default", "sha256": load_classifier(path).card["artifact"]["sha256"]}
        for name, path in paths.items()
    }


def make_inserted_files(spec, arms) -> None:
    """Generate the synthetic documents, then the controls (random natural documents, generic copy data) with
    their token count, where the spec names a missing file that one of ``arms`` inserts."""
    from mda_curate.augment.settings import GenerationSettings
    from mda_curate.augment.stages import draw_control, draw_generic_control, generate_documents
    from mda_curate.validation.arms import INSERTED_FILES

    inserting = set(INSERTED_FILES) & set(arms)
    synthetic, tokenizer = spec.arms.synthetic, str(spec.tokenizer)
    if inserting and synthetic is not None and not synthetic.exists():
        profile = ROOT / "examples" / "augment" / "window_s1_profile.json"
        generate_documents(profile, synthetic, GenerationSettings(tokens=synthetic_tokens(spec), seed=0), tokenizer)
    random_documents, generic_documents = spec.arms.random_documents, spec.arms.generic_documents
    if "random_insertion" in arms and random_documents is not None and not random_documents.exists():
        domains = list(spec.train.mix) if spec.train.mix else None
        draw_control(synthetic, list(map(str, spec.data)), random_documents, 0, tokenizer, domains=domains)
    if "generic_insertion" in arms and generic_documents is not None and not generic_documents.exists():
        draw_generic_control(synthetic, generic_documents, 0, tokenizer)


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
