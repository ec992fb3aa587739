"""The demo's plan: where the influence window goes, and the validation spec it writes."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace

import pytest

from mda_curate.demo import (
    FULL,
    QUICK,
    QUICK_FROM_SCRATCH,
    check_same_inputs,
    demo_plan,
    influence_window,
    validation_spec,
)
from mda_curate.errors import UserError
from mda_curate.validation import load_spec
from mda_curate.validation.spec import spec_toml, write_spec


def test_the_window_ends_before_formation_and_starts_at_a_checkpoint():
    assert influence_window(FULL, 6606.4) == (6250, 6500)
    assert influence_window(FULL, 7432.7) == (7000, 7250)
    assert influence_window(FULL, 120.0) == (0, 250)


def test_without_formation_the_window_leaves_room_for_the_arms():
    start, end = influence_window(QUICK_FROM_SCRATCH, None)
    assert (start, end) == (200, 250)
    assert start % QUICK_FROM_SCRATCH.recipe.checkpoint_every == 0
    assert start + QUICK_FROM_SCRATCH.arm_steps <= QUICK_FROM_SCRATCH.recipe.steps


def test_the_quick_demo_starts_from_the_shipped_checkpoint_only_with_its_model():
    assert demo_plan(True, None) == QUICK and demo_plan(True, "cpu-tiny") == QUICK
    assert demo_plan(True, "llama-tiny").recipe == replace(QUICK_FROM_SCRATCH.recipe, preset="llama-tiny")
    assert not demo_plan(True, "llama-tiny").from_checkpoint
    assert demo_plan(False, None) == FULL and demo_plan(False, "llama-tiny").recipe.preset == "llama-tiny"


def test_the_shipped_checkpoint_is_the_quick_recipes_run_before_its_head_forms():
    import torch

    from mda_curate.resources import demo_checkpoint_dir, sample_corpus_dir, sample_tokenizer_dir
    from mda_curate.training.config import TrainConfig
    from mda_curate.units.formation import has_formed

    checkpoint = demo_checkpoint_dir()
    run = json.loads((checkpoint / "run.json").read_text())
    # the same data order and optimiser: only how often it saves (and runtime settings) may differ
    shipped = TrainConfig.from_dict(run["train"])
    assert replace(shipped, checkpoint_every=QUICK.recipe.checkpoint_every).differences(QUICK.recipe) == []
    check_same_inputs(checkpoint / "run.json", sample_corpus_dir() / "train.parquet", sample_tokenizer_dir())
    state = torch.load(checkpoint / "trainer_state.pt", weights_only=True)
    assert 0 < state["step"] < QUICK.recipe.steps
    assert not has_formed(checkpoint)


DEMO_SPEC = """name = "demo"
recipe = "cpu-formation"
unit = "1.2"
[train]
preset = "cpu-tiny"
steps = 300
checkpoint_every = 50
catalyst_share = 0.6
threads = 1
[arms]
run = ["baseline", "targeted_removal", "random_removal", "classifier_upsampling", "synthetic_augmentation", "random_insertion"]
k = 0.1
checkpoint_every = 25
classifier = "/r/c"
synthetic = "/r/s.jsonl"
random_documents = "/r/c.jsonl"
[[seeds]]
seed = 1
run = "/r/run"
window = [200, 250]
until = 300
scores = "/r/s.parquet"
"""


def _spec(
    tmp_path, plan, run, window, until, scores="s.parquet", classifier="c", synthetic="s.jsonl", control="c.jsonl"
):
    data = validation_spec(
        run,
        window,
        "1.2",
        until,
        plan,
        {"scores": str(scores)},
        {"path": str(classifier)},
        {"synthetic": str(synthetic), "control": str(control)},
    )
    return write_spec(data, tmp_path / "validation.toml")


def test_a_checkpoint_trained_on_other_data_is_refused(tmp_path):
    from mda_curate.resources import demo_checkpoint_dir, sample_corpus_dir, sample_tokenizer_dir

    changed = tmp_path / "train.parquet"
    changed.write_bytes((sample_corpus_dir() / "train.parquet").read_bytes()[:-1] + b"x")
    with pytest.raises(UserError, match="train.parquet is not the file this run was trained on"):
        check_same_inputs(demo_checkpoint_dir() / "run.json", changed, sample_tokenizer_dir())


def test_the_validation_spec_file_reads_as_written():
    data = validation_spec(
        "/r/run",
        (200, 250),
        "1.2",
        300,
        QUICK_FROM_SCRATCH,
        {"scores": "/r/s.parquet"},
        {"path": "/r/c"},
        {"synthetic": "/r/s.jsonl", "control": "/r/c.jsonl"},
    )
    assert spec_toml(data) == DEMO_SPEC  # as the demo wrote it when it joined strings
    assert tomllib.loads(spec_toml(data)) == data


def test_the_validation_spec_is_a_valid_experiment(tmp_path):
    run, scores = tmp_path / "run", tmp_path / "influence" / "window.parquet"
    spec = _spec(
        tmp_path,
        QUICK_FROM_SCRATCH,
        run,
        (200, 250),
        300,
        scores,
        tmp_path / "classifier",
        tmp_path / "synthetic.jsonl",
        tmp_path / "control.jsonl",
    )
    assert load_spec(tmp_path / "validation.toml") == spec
    (seed,) = spec.seeds
    assert seed.window == (200, 250) and seed.until == 300 and seed.run == run.resolve()
    assert spec.train.steps == 300 and spec.train.checkpoint_every == QUICK_FROM_SCRATCH.recipe.checkpoint_every
    assert spec.train.catalyst_share == QUICK_FROM_SCRATCH.recipe.catalyst_share
    assert spec.arms.run == (
        "baseline",
        "targeted_removal",
        "random_removal",
        "classifier_upsampling",
        "synthetic_augmentation",
        "random_insertion",
    )
    assert spec.arms.random_documents == (tmp_path / "control.jsonl").resolve()


def test_the_full_demo_validates_its_own_recipe_not_the_named_one(tmp_path):
    from mda_curate.training.config import RECIPES

    assert FULL.recipe.catalyst_share != RECIPES["cpu-formation"].catalyst_share
    assert _spec(tmp_path, FULL, tmp_path / "run", (4750, 5000), 5350).train == replace(FULL.recipe, threads=1)


def test_the_validation_spec_trains_the_demos_preset(tmp_path):
    plan = demo_plan(True, "llama-tiny")
    assert _spec(tmp_path, plan, tmp_path / "run", (200, 250), 300).train == replace(plan.recipe, threads=1)


@pytest.mark.slow
def test_the_quick_demo_runs_every_stage_on_a_llama_style_model(tmp_path):
    from mda_curate.demo import ARMS, run_demo

    summary = run_demo(tmp_path / "demo", quick=True, preset="llama-tiny")
    assert summary["recipe"]["preset"] == "llama-tiny"
    stages = {"train", "units", "influence", "classifier", "curate", "augment", "validate"}
    assert set(summary["seconds"]) == stages | {"total"}
    assert set(summary["validation"]["arms"]) == set(ARMS)
    config = json.loads((tmp_path / "demo" / "run" / "step_0" / "config.json").read_text())
    assert config["model_type"] == "llama"
