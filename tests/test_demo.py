"""The demo's plan: where the influence window goes, and the validation spec it writes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mda_curate.demo import FULL, QUICK, influence_window, validation_spec


def test_the_window_ends_before_formation_and_starts_at_a_checkpoint():
    assert influence_window(FULL, 6606.4) == (6250, 6500)
    assert influence_window(FULL, 7432.7) == (7000, 7250)
    assert influence_window(FULL, 120.0) == (0, 250)


def test_without_formation_the_window_leaves_room_for_the_arms():
    start, end = influence_window(QUICK, None)
    assert (start, end) == (200, 250)
    assert start % QUICK.recipe.checkpoint_every == 0
    assert start + QUICK.arm_steps <= QUICK.recipe.steps


def test_the_validation_spec_is_a_valid_experiment(tmp_path):
    from mda_curate.validation import load_spec

    run, scores = tmp_path / "run", tmp_path / "influence" / "window.parquet"
    text = validation_spec(
        run, (200, 250), "1.2", 300, QUICK, {"scores": str(scores)},
        {"path": str(tmp_path / "classifier")}, {"synthetic": str(tmp_path / "synthetic.jsonl"), "control": str(tmp_path / "control.jsonl")},
    )
    path = tmp_path / "validation.toml"
    path.write_text(text)
    spec = load_spec(path)
    (seed,) = spec.seeds
    assert seed.window == (200, 250) and seed.until == 300 and seed.run == run.resolve()
    assert spec.train.steps == 300 and spec.train.checkpoint_every == QUICK.recipe.checkpoint_every
    assert spec.train.catalyst_share == QUICK.recipe.catalyst_share
    assert spec.arms.run == ("baseline", "targeted_removal", "random_removal", "classifier_upsampling", "synthetic_augmentation",
                             "random_insertion")
    assert spec.arms.random_documents == (tmp_path / "control.jsonl").resolve()


def test_the_full_demo_validates_its_own_recipe_not_the_named_one(tmp_path):
    from mda_curate.training.config import RECIPES
    from mda_curate.validation import load_spec

    assert FULL.recipe.catalyst_share != RECIPES["cpu-formation"].catalyst_share
    run = tmp_path / "run"
    path = tmp_path / "validation.toml"
    path.write_text(validation_spec(run, (4750, 5000), "1.2", 5350, FULL, {"scores": str(tmp_path / "s.parquet")},
                                    {"path": str(tmp_path / "c")}, {"synthetic": "s.jsonl", "control": "c.jsonl"}))
    assert load_spec(path).train == replace(FULL.recipe, threads=1)


def test_the_validation_spec_trains_the_demos_preset(tmp_path):
    from mda_curate.validation import load_spec

    plan = replace(QUICK, recipe=replace(QUICK.recipe, preset="llama-tiny"))
    path = tmp_path / "validation.toml"
    path.write_text(validation_spec(tmp_path / "run", (200, 250), "1.2", 300, plan, {"scores": "s.parquet"},
                                    {"path": str(tmp_path / "c")}, {"synthetic": "s.jsonl", "control": "c.jsonl"}))
    assert load_spec(path).train == replace(plan.recipe, threads=1)


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
