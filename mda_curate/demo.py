"""The closed loop on the shipped sample corpus, from a unit to a validated curated mix.

Stages, each the library call its command (named below) makes, leaving a folder under the output that a
rerun skips:

1. ``run/``         train the base run (``mda-curate train``, the CPU formation-window recipe) until the
                    induction head forms (``units.formation.has_formed`` at each checkpoint);
2. ``units/``       score every head of every checkpoint; find the induction head and when it forms;
3. ``influence/``   influence of the formation window's samples on that head (``mda-curate influence``);
4. ``classifier/``  a catalyst classifier trained on those influence labels (``mda-curate classifier train``);
5. ``curated/``     the sample corpus upsampled by the classifier with datatrove (``mda-curate curate upsample``);
6. ``augment/``     the top samples' motifs, synthetic documents built from them and the matched control,
                    random natural documents of the same token count (``mda-curate augment``);
7. ``validation/``  arms branched at the window: baseline, targeted and random removal, classifier
                    upsampling, synthetic insertion and its random control (``mda-curate validate``).

``summary.json`` gathers every stage's result; the plots are ``units/trajectory.png`` and
``validation/*.png``. ``--quick`` runs the same stages on a 300-step run in a few minutes (CI's smoke run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mda_curate.console import console, table
from mda_curate.errors import UserError
from mda_curate.training.config import RECIPES, TrainConfig
from mda_curate.units.formation import has_formed

FORMATION_RECIPE = RECIPES["cpu-formation"]
ARMS = (
    "baseline",
    "targeted_removal",
    "random_removal",
    "classifier_upsampling",
    "synthetic_augmentation",
    "random_insertion",
)


@dataclass(frozen=True)
class DemoPlan:
    """The demo's sizes: the recipe, the influence window, and how far the arms train past it."""

    recipe: TrainConfig
    window_steps: int  # the influence window: this many steps, ending before the formation step
    arm_steps: int  # arms train this many steps from the window start (capped at the run's end)
    arm_checkpoint_every: int
    factor_samples: int
    workers: int = 2
    from_checkpoint: bool = False  # start the base run from the shipped checkpoint (resources.demo_checkpoint_dir)


# The full demo raises the catalyst share to 0.75 so the head forms by ~5,000 steps rather than ~6,600
# (benchmarks/formation_window/formation_window.json, seed 1: 5,083 vs 6,606), which keeps it within 30 minutes here.
FULL = DemoPlan(
    replace(FORMATION_RECIPE, catalyst_share=0.75),
    window_steps=250,
    arm_steps=600,
    arm_checkpoint_every=50,
    factor_samples=2000,
)
# The quick demo trains the full demo's run on from its shipped checkpoint a few hundred steps before the head
# forms (examples/demo_checkpoint/README.md), so its few minutes hold the formation and arms that differ.
QUICK = DemoPlan(
    replace(FULL.recipe, checkpoint_every=50),
    window_steps=50,
    arm_steps=200,
    arm_checkpoint_every=25,
    factor_samples=512,
    from_checkpoint=True,
)
# With another model (--preset) there is no shipped checkpoint: 300 steps from scratch, where nothing forms.
QUICK_FROM_SCRATCH = DemoPlan(
    replace(FORMATION_RECIPE, steps=300, checkpoint_every=50),
    window_steps=50,
    arm_steps=100,
    arm_checkpoint_every=25,
    factor_samples=512,
)


def demo_plan(quick: bool, preset: str | None) -> DemoPlan:
    """The full or quick plan, with ``preset``'s model instead of the recipe's when given."""
    plan = FULL if not quick else QUICK if preset in (None, QUICK.recipe.preset) else QUICK_FROM_SCRATCH
    return plan if preset is None else replace(plan, recipe=replace(plan.recipe, preset=preset))


def run_demo(output: str | Path, quick: bool = False, preset: str | None = None) -> dict:
    """Run every stage into ``output``, with the recipe's model or ``preset`` (e.g. ``llama-tiny``); returns
    (and writes) ``summary.json``."""
    from mda_curate.resources import demo_checkpoint_dir, sample_corpus_dir, sample_tokenizer_dir

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    plan = demo_plan(quick, preset)
    corpus, tokenizer_dir = sample_corpus_dir(), sample_tokenizer_dir()
    start = demo_checkpoint_dir() if plan.from_checkpoint else None
    if start is not None:
        check_same_inputs(start / "run.json", corpus / "train.parquet", tokenizer_dir)
    seconds: dict[str, float] = {}
    with _timed(seconds, "train"):
        run_dir = train_base_run(
            plan.recipe, corpus / "train.parquet", tokenizer_dir, output / "run", stop=has_formed, init_from=start
        )
    with _timed(seconds, "units"):
        units = score_trajectory(run_dir, corpus / "heldout.parquet", output / "units")
    window = influence_window(plan, units["formation_step"])
    unit = "{}.{}".format(*units["induction"]["head"])
    with _timed(seconds, "influence"):
        influence = window_influence(run_dir, window, unit, plan, output / "influence")
    with _timed(seconds, "classifier"):
        classifier = train_window_classifier(run_dir, window, influence["scores"], output / "classifier")
    with _timed(seconds, "curate"):
        curated = curate_corpus(corpus / "train.parquet", classifier["path"], output / "curated")
    with _timed(seconds, "augment"):
        augment = synthesize(
            run_dir, window, influence["scores"], corpus / "train.parquet", tokenizer_dir, plan, output / "augment"
        )
    with _timed(seconds, "validate"):
        validation = validate(run_dir, window, unit, plan, influence, classifier, augment, output / "validation")
    summary = {
        "quick": quick,
        "corpus": str(corpus),
        "recipe": asdict(plan.recipe),
        **{k: v for k, v in units.items() if k != "files"},
        "unit": unit,
        "window": list(window),
        "influence": influence,
        "classifier": classifier,
        "curated": curated,
        "augment": augment,
        "validation": validation,
        "plots": [units["files"]["plot"], *validation.pop("plots")],
        "seconds": {**seconds, "total": round(sum(seconds.values()), 1)},
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print_summary(summary)
    return summary


def train_base_run(
    config: TrainConfig,
    data: Path,
    tokenizer_dir: Path,
    run_dir: Path,
    until: int | None = None,
    stop: Callable[[Path], bool] | None = None,
    init_from: Path | None = None,
) -> Path:
    """Train (or resume, after a kill) the base run of ``config`` on ``data``, to its end or step ``until``,
    or to the first checkpoint for which ``stop`` holds (a resumed run whose last checkpoint holds stays).

    ``init_from``: a checkpoint of this run with its ``trainer_state.pt`` to start from rather than step 0; it
    is saved as the new run's first checkpoint."""
    from transformers.utils import logging as transformers_logging

    from mda_curate.models import load_tokenizer
    from mda_curate.training.trainer import Trainer

    transformers_logging.disable_progress_bar()
    resume = (run_dir / "config.json").is_file() and any(run_dir.glob("step_*/trainer_state.pt"))
    trainer = Trainer(config, run_dir, load_tokenizer(str(tokenizer_dir)), [data], init_from=init_from, resume=resume)
    if init_from is not None and not resume:
        trainer.save_checkpoint()
    limit = f"from step {trainer.step} up to {config.steps}" + (
        f" or until {stop.__name__}" if stop is not None else ""
    )
    console.rule(f"[bold]1. train: {config.preset}, {limit}, catalyst share {config.catalyst_share}")
    stopped = stop is not None and trainer.step > 0 and stop(run_dir / f"step_{trainer.step}")
    if trainer.step < (config.steps if until is None else min(until, config.steps)) and not stopped:
        trainer.train(until=until, stop=stop)
    return run_dir


def check_same_inputs(run_json: Path, data: Path, tokenizer_dir: Path) -> None:
    """The run recorded in ``run_json`` read exactly these files (same bytes, wherever they now lie)."""
    from mda_curate.fingerprint import file_identity

    recorded = json.loads(run_json.read_text())["content"]
    files = {data: list(recorded["data"].values()) == [file_identity(data)]}
    files |= {
        tokenizer_dir / name: identity == file_identity(tokenizer_dir / name)
        for name, identity in recorded["tokenizer"].items()
    }
    for path, same in files.items():
        if not same:
            raise UserError(
                f"{run_json}: {path} is not the file this run was trained on (rebuild it: see its README.md)"
            )


def score_trajectory(run_dir: Path, heldout: Path, out_dir: Path) -> dict:
    """Score every checkpoint's heads and ICL; find the formation step of the induction head."""
    from mda_curate.data.documents import read_documents
    from mda_curate.units.formation import formation_step, summarize_steps
    from mda_curate.units.trajectory import score_checkpoints

    console.rule("[bold]2. units: head scores and ICL score at every checkpoint")
    texts = [doc.text for doc in read_documents([heldout]) if doc.domain == "prose"]
    rows, table_path, plot_path = score_checkpoints(run_dir, out_dir / "trajectory", icl_texts=texts)
    steps = summarize_steps(rows)
    first, last = steps[0], steps[-1]
    return {
        "formation_step": formation_step(steps),
        "induction": {
            "first": first.best_induction,
            "last": last.best_induction,
            "head": list(last.best_induction_head),
        },
        "previous_token": {
            "first": first.best_previous_token,
            "last": last.best_previous_token,
            "head": list(last.best_previous_token_head),
        },
        "induction_loss_drop": {"first": first.induction_loss_drop, "last": last.induction_loss_drop},
        "icl_score": {"first": first.icl_score, "last": last.icl_score},
        "files": {"table": str(table_path), "plot": str(plot_path)},
    }


def influence_window(plan: DemoPlan, formation: float | None) -> tuple[int, int]:
    """``window_steps`` steps starting at a checkpoint and ending before the formation step (before the
    run's last ``arm_steps`` steps when the head has not formed)."""
    every = plan.recipe.checkpoint_every
    latest_end = formation if formation is not None else plan.recipe.steps - plan.arm_steps + plan.window_steps
    start = max(0, int(latest_end - plan.window_steps) // every * every)
    return start, start + plan.window_steps


def window_influence(run_dir: Path, window: tuple[int, int], unit: str, plan: DemoPlan, out_dir: Path) -> dict:
    """Influence of every sample of the window on the unit's induction probe, at the window's first checkpoint."""
    from mda_curate.influence.request import InfluenceRequest, compute_influence
    from mda_curate.influence.settings import InfluenceSettings

    console.rule(f"[bold]3. influence: steps {window[0]}:{window[1]} on head {unit}")
    scores = out_dir / "window.parquet"
    if not scores.is_file():
        compute_influence(
            InfluenceRequest(
                model=str(run_dir / f"step_{window[0]}"),
                train=str(run_dir),
                out=str(scores),
                steps=window,
                unit=unit,
                top=5,
                settings=InfluenceSettings(batch_size=32, factor_max_samples=plan.factor_samples),
            )
        )
    summary = json.loads((out_dir / "window.influence" / "summary.json").read_text())
    return {"scores": str(scores), **summary}


def train_window_classifier(run_dir: Path, window: tuple[int, int], scores: str, out_dir: Path) -> dict:
    """The catalyst classifier, trained on the window's samples (decoded) labelled by influence."""
    from mda_curate.classifier.labels import window_labelled
    from mda_curate.classifier.train import TrainSettings, train_and_save, train_command

    console.rule("[bold]4. classifier: catalyst classifier from the influence labels")
    model = str(out_dir / "model")
    if not (out_dir / "model" / "card.json").is_file():
        command = train_command(model, scores, str(run_dir))  # the card's command: `classifier train` remakes it
        train_and_save(window_labelled(run_dir, scores, fraction=0.2), model, 0, TrainSettings(), command)
    card = json.loads((out_dir / "model" / "card.json").read_text())
    return {"path": str(out_dir / "model"), "metrics": card.get("metrics", {})}


def write_window_samples(run_dir: Path, window: tuple[int, int], path: Path) -> None:
    """The window's samples as a JSONL corpus: ``id`` = the influence ``doc_id``, decoded ``text``, ``domain``
    (``classifier train --run`` reads the window itself; this file is for tools that take a corpus)."""
    from mda_curate.influence.window import window_samples

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as out:
        out.writelines(
            json.dumps({"id": s.doc_id, "text": s.text, "domain": s.domain}) + "\n"
            for s in window_samples(run_dir, window)
        )


def curate_corpus(corpus: Path, classifier: str, out_dir: Path) -> dict:
    """Upsample the corpus's catalyst documents with the datatrove pipeline (3 copies above score 0.8)."""
    from mda_curate.pipelines.recipes import Inputs, Layout, upsample_plan
    from mda_curate.pipelines.run import Launch, print_summary, run_plan
    from mda_curate.pipelines.steps import load_scorer

    console.rule("[bold]5. curate: upsample the sample corpus with the classifier (datatrove)")
    if not (out_dir / "stats.json").is_file():
        load_scorer(classifier)  # a bad classifier is one error here rather than a failed task
        plan = upsample_plan(Inputs.find([str(corpus)]), Layout(str(out_dir)), classifier, bands=[(0.8, 3.0)])
        print_summary(plan.pipeline, str(out_dir), run_plan(plan, Launch()))
    stats = json.loads((out_dir / "stats.json").read_text())
    return {key: stats[key] for key in ("lines_read", "kept", "dropped", "rejected", "upsampled") if key in stats}


def synthesize(
    run_dir: Path,
    window: tuple[int, int],
    scores: str,
    corpus: Path,
    tokenizer_dir: Path,
    plan: DemoPlan,
    out_dir: Path,
) -> dict:
    """Mine the motifs of the window's top samples, generate as many synthetic tokens as the top 10% hold,
    and draw the control: random documents of the training mix's domains with the same token count."""
    from mda_curate.augment.generators import GenerationSettings
    from mda_curate.augment.stages import draw_control, generate_documents, mine_profile

    console.rule("[bold]6. augment: motifs of the top samples, synthetic documents with them, the random control")
    profile, synthetic, control = out_dir / "profile.json", out_dir / "synthetic.jsonl", out_dir / "control.jsonl"
    if not profile.is_file():
        mine_profile(scores, str(profile), run=str(run_dir), steps=window)
    budget = int(0.1 * (window[1] - window[0]) * plan.recipe.batch_size * plan.recipe.ctx)
    if not synthetic.is_file():
        generate_documents(str(profile), str(synthetic), GenerationSettings(budget), str(tokenizer_dir))
    if not control.is_file():
        draw_control(
            str(synthetic), [str(corpus)], str(control), tokenizer=str(tokenizer_dir), domains=list(plan.recipe.mix)
        )
    return {"profile": str(profile), "synthetic": str(synthetic), "control": str(control), "token_budget": budget}


def validate(run_dir, window, unit, plan: DemoPlan, influence, classifier, augment, out_dir: Path) -> dict:
    """Retrain the arms from the window start and compare their formation with the baseline's."""
    from mda_curate.validation import run_experiment
    from mda_curate.validation.spec import write_spec

    console.rule("[bold]7. validate: arms branched at the window start")
    until = min(plan.recipe.steps, window[0] + plan.arm_steps)
    path = out_dir.parent / "validation.toml"
    spec = write_spec(validation_spec(run_dir, window, unit, until, plan, influence, classifier, augment), path)
    run_experiment(spec, out_dir, workers=plan.workers)
    summary = json.loads((out_dir / "summary.json").read_text())
    return {**summary, "spec": str(path), "plots": sorted(str(p) for p in out_dir.glob("*.png"))}


def validation_spec(run_dir, window, unit, until, plan: DemoPlan, influence, classifier, augment) -> dict:
    """The demo's experiment as the tables of a ``mda-curate validate`` spec (one seed: the demo's own base run),
    written to ``validation.toml`` with ``validation.spec.write_spec``."""
    return {
        "name": "demo",
        "recipe": "cpu-formation",
        "unit": unit,
        "train": {
            "preset": plan.recipe.preset,
            "steps": plan.recipe.steps,
            "checkpoint_every": plan.recipe.checkpoint_every,
            "catalyst_share": plan.recipe.catalyst_share,
            "threads": 1,
        },
        "arms": {
            "run": list(ARMS),
            "k": 0.1,
            "checkpoint_every": plan.arm_checkpoint_every,
            "classifier": _absolute(classifier["path"]),
            "synthetic": _absolute(augment["synthetic"]),
            "random_documents": _absolute(augment["control"]),
        },
        "seeds": [
            {
                "seed": plan.recipe.seed,
                "run": _absolute(run_dir),
                "window": list(window),
                "until": until,
                "scores": _absolute(influence["scores"]),
            }
        ],
    }


def _absolute(path) -> str:
    return str(Path(path).resolve())


def print_summary(summary: dict) -> None:
    validation = summary["validation"]["arms"]
    rows = [
        ["formation step", summary["formation_step"] if summary["formation_step"] is not None else "not yet"],
        *[
            [
                f"{name} (L{summary[name]['head'][0]}H{summary[name]['head'][1]})",
                f"{summary[name]['first']:.3f} → {summary[name]['last']:.3f}",
            ]
            for name in ("induction", "previous_token")
        ],
        ["induction-loss drop (nats)", _change(summary["induction_loss_drop"])],
        ["ICL score (nats)", _change(summary["icl_score"])],
        [
            "influence: top 10% share of positive influence",
            _percent(summary["influence"].get("top_share_of_positive_influence")),
        ],
        ["classifier validation AUROC", _number(summary["classifier"]["metrics"].get("auroc"))],
        [
            "curated: documents read / upsampled copies",
            f"{summary['curated'].get('lines_read')} / {summary['curated'].get('upsampled')}",
        ],
        *[
            [
                f"speed-up after branch / absolute: {arm}",
                f"{_number(stats.get('speedup_post_branch', {}).get('mean'))} / "
                f"{_number(stats.get('speedup', {}).get('mean'))}",
            ]
            for arm, stats in validation.items()
        ],
        ["seconds", summary["seconds"]["total"]],
    ]
    console.print(table("mda-curate demo", ["", "value"], rows))


@contextmanager
def _timed(seconds: dict, name: str):
    started = time.perf_counter()
    yield
    seconds[name] = round(time.perf_counter() - started, 1)


def _change(values: dict) -> str:
    if values["first"] is None or values["last"] is None:
        return "-"
    return f"{values['first']:.3f} → {values['last']:.3f}"


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(value) -> str:
    return "-" if value is None else f"{value:.1%}"
