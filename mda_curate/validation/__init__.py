"""Validation harness: do interventions on the influence-ranked samples move the unit's formation?

An experiment spec (``spec``, TOML) names, per seed, a base run, its formation window, its unit and its
influence scores. Every arm (``arms``: baseline, targeted/random removal and augmentation, classifier
upsampling, synthetic insertion and its random-document control) branches from the base run's checkpoint
at the window start and trains the identical data order with one intervention; ``runner`` trains and
scores the arm-runs (in parallel, resumable), ``metrics`` scores each checkpoint, ``stats`` turns runs
into formation steps, speed-ups, held-out loss changes and t-intervals over seeds, and ``report`` writes
``results.parquet``, ``summary.json``, plots and ``report.md``.

    from mda_curate.validation import load_spec, run_experiment
    summary = run_experiment(load_spec("examples/validation/cpu-formation.toml"), "runs/validation", workers=2)

Submodules import torch lazily: loading a spec is cheap.
"""

from mda_curate.validation.runner import run_experiment
from mda_curate.validation.spec import ARMS, ExperimentSpec, load_spec

__all__ = ["ARMS", "ExperimentSpec", "load_spec", "run_experiment"]
