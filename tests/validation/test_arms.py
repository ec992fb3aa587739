import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mda_curate.classifier import load_classifier
from mda_curate.errors import UserError
from mda_curate.validation.arms import random_k, spread_duplicates, top_k
from mda_curate.validation.runner import base_run_data, plan, save_spec
from mda_curate.validation.spec import ARMS, load_spec

from .conftest import tiny_spec_data, write_scores, write_spec


def tiny_spec(tmp_path, corpus, base_runs, arms=None, **changes):
    """The tiny spec over seed 0; ``table__key=value`` changes one field."""
    data = tiny_spec_data(corpus, base_runs, seeds=(0,), arms=arms)
    for name, value in changes.items():
        table, key = name.split("__")
        data[table][key] = value
    return load_spec(write_spec(tmp_path / "spec.toml", data))


def test_top_k_breaks_ties_by_index_and_random_k_is_seeded_per_seed():
    indices = np.arange(10, 20)
    scores = np.array([0, 5, 5, 1, 9, 5, 0, 0, 2, 3], dtype=float)
    assert top_k(indices, scores, 3) == [11, 12, 14]
    assert random_k(indices, 4, 0, 1) == random_k(indices, 4, 0, 1) != random_k(indices, 4, 0, 2)
    assert len(set(random_k(indices, 10, 0, 1))) == 10


def test_spread_copies_come_back_evenly_spaced_within_the_window_never_in_their_own_step():
    batch, window, copies = 4, (10, 16), 2  # 6 steps: copies 2 and 4 steps later, wrapping round
    samples = [40, 41, 62, 63]  # steps 10, 10, 15, 15
    entries = spread_duplicates(samples, window, batch, copies)
    placed = sorted((e["step"], g) for e in entries for g in e["samples"])
    assert placed == [(11, 62), (11, 63), (12, 40), (12, 41), (13, 62), (13, 63), (14, 40), (14, 41)]
    assert [e["step"] for e in entries] == sorted({e["step"] for e in entries})  # one entry per step
    every = spread_duplicates(list(range(40, 64)), window, batch, copies)
    assert sorted(len(e["samples"]) for e in every) == [8] * 6  # a full window: the same extra rows every step
    assert all(
        g // batch != e["step"] and len(set(e["samples"])) == len(e["samples"]) for e in every for g in e["samples"]
    )


def test_arms_see_the_baseline_batches_except_their_intervention(tmp_path, corpus, base_runs):
    from mda_curate.models import load_tokenizer
    from mda_curate.training.schedule import INSERTED, Schedule
    from mda_curate.training.trainer import Trainer

    spec = tiny_spec(tmp_path, corpus, base_runs, arms=ARMS)
    (seed,) = spec.seeds
    runs = plan(spec, tmp_path / "out", ARMS, show_progress=False)
    assert [r.arm for r in runs] == list(ARMS)
    schedules = [r.schedule_path.read_text() for r in runs]
    rerun = plan(spec, tmp_path / "out", ARMS, show_progress=False)  # the curation pipelines resume on the same shard
    assert [r.schedule_path.read_text() for r in rerun] == schedules
    config, tokenizer = spec.arm_config(seed), load_tokenizer(str(spec.tokenizer))
    n, window = config.batch_size, range(4 * 4, 8 * 4)

    def trainer(run):
        schedule = Schedule.load(run.schedule_path, config.steps, n)
        return Trainer(
            config, tmp_path / "trainers" / run.arm, tokenizer, base_run_data(seed.run), schedule, seed.run / "step_4"
        )

    baseline = trainer(runs[0])
    chosen = {}
    for run in runs[1:]:
        schedule, arm = json.loads(run.schedule_path.read_text()), trainer(run)
        masked = set(schedule["mask"])
        duplicated = [g for d in schedule["duplicate"] for g in d["samples"]]
        chosen[run.arm] = sorted(masked) or duplicated
        for step in range(config.steps):
            base, mine = baseline.batch(step), arm.batch(step)
            assert np.array_equal(mine.tokens[:n], base.tokens[:n]) and np.array_equal(
                mine.sample_ids[:n], base.sample_ids[:n]
            )
            assert mine.weights[:n].tolist() == [0.0 if g in masked else 1.0 for g in base.sample_ids[:n]]
            extra = [g for g in duplicated if g // n == step]
            inserts = sum(i["rows_per_step"] for i in schedule["insert"] if i["start"] <= step < i["end"])
            assert mine.sample_ids[n:].tolist() == extra + [INSERTED] * inserts
            for row, g in zip(mine.tokens[n:], extra):
                assert np.array_equal(row, baseline.order.sample(g))
            if not 4 <= step < 8:
                assert np.array_equal(mine.tokens, base.tokens) and np.array_equal(mine.weights, base.weights)
    inserting = {"synthetic_augmentation", "random_insertion", "generic_insertion"}
    assert all(len(s) == 4 and set(s) <= set(window) for arm, s in chosen.items() if arm not in inserting)
    scores = {g: (g * 7) % 11 for g in window}  # conftest.write_scores
    top = top_k(np.array(list(scores)), np.array(list(scores.values()), float), 4)
    assert chosen["targeted_removal"] == chosen["targeted_augmentation"] == top
    assert chosen["random_removal"] == chosen["random_augmentation"] != chosen["targeted_removal"]
    texts = [tokenizer.decode(baseline.order.sample(g).tolist()) for g in window]
    assert chosen["classifier_upsampling"] == pipeline_top_k(window, load_classifier(None).score(texts), 4)
    assert chosen["random_upsampling"] != chosen["classifier_upsampling"]
    inserts = {run.arm: json.loads(run.schedule_path.read_text())["insert"] for run in runs if run.arm in inserting}
    assert [i["rows_per_step"] for (i,) in inserts.values()] == [1, 1, 1]  # ceil(4 / 4 steps): the same in each arm
    assert [Path(i["path"]).name for (i,) in inserts.values()] == ["synthetic.jsonl", "random.jsonl", "generic.jsonl"]


def test_spread_augmentation_duplicates_the_same_samples_at_other_steps_of_the_window(tmp_path, corpus, base_runs):
    def duplicates(folder, **changes):
        (tmp_path / folder).mkdir()
        spec = tiny_spec(
            tmp_path / folder, corpus, base_runs, arms=["targeted_augmentation"], arms__copies=2, **changes
        )
        runs = plan(spec, tmp_path / folder / "out", ("targeted_augmentation",), show_progress=False)
        (run,) = [r for r in runs if r.arm == "targeted_augmentation"]
        return json.loads(run.schedule_path.read_text())["duplicate"]

    (own,) = duplicates("own")
    placed = [(e["step"], g) for e in duplicates("spread", arms__spread=True) for g in e["samples"]]
    assert own["step"] is None and own["copies"] == 2
    assert sorted(g for _, g in placed) == sorted(own["samples"] * 2)  # the same samples and copies
    assert all(4 <= step < 8 and step != g // 4 for step, g in placed)  # within the window, never in their own step


def test_displacing_augmentation_masks_as_many_other_window_samples_as_it_adds_rows(tmp_path, corpus, base_runs):
    arms = ["targeted_removal", "targeted_augmentation", "random_augmentation"]
    spec = tiny_spec(tmp_path, corpus, base_runs, arms=arms, arms__copies=2, arms__spread=True, arms__displace=True)
    runs = {
        r.arm: json.loads(r.schedule_path.read_text())
        for r in plan(spec, tmp_path / "out", tuple(arms), show_progress=False)
    }
    window = set(range(4 * 4, 8 * 4))
    for arm in ("targeted_augmentation", "random_augmentation"):
        added = [g for d in runs[arm]["duplicate"] for g in d["samples"]]
        masked = runs[arm]["mask"]
        assert len(added) == len(masked) == 8  # k = 4 samples x 2 copies: the baseline's row count over the window
        assert set(masked) <= window - set(added) and len(set(masked)) == 8
    assert runs["targeted_augmentation"]["mask"] != runs["random_augmentation"]["mask"]  # each avoids its own k
    assert runs["targeted_removal"]["mask"] == sorted(
        set(d for e in runs["targeted_augmentation"]["duplicate"] for d in e["samples"])
    )
    (tmp_path / "big").mkdir()
    too_many = tiny_spec(
        tmp_path / "big", corpus, base_runs, arms=arms, arms__k=6, arms__copies=2, arms__displace=True
    )
    with pytest.raises(UserError, match="k \\* copies = 12 rows to displace, but the window has only 10 samples"):
        plan(too_many, tmp_path / "big" / "out", ("targeted_augmentation",), show_progress=False)


def pipeline_top_k(window, scores, k: int) -> list[int]:
    """Brute force of ``curate upsample --top-fraction``: the best scores, ties by the id's hash."""
    from mda_curate.pipelines.steps import unit_hash

    ranked = sorted(zip(window, scores), key=lambda pair: (-pair[1], unit_hash(str(pair[0]))))
    return sorted(int(g) for g, _ in ranked[:k])


def test_a_seeds_own_classifier_replaces_the_arms_classifier(tmp_path, corpus, base_runs):
    import mda_curate.validation.arms as arms
    from mda_curate.models import load_tokenizer
    from mda_curate.training.data import DataOrder

    shipped = Path(arms.__file__).resolve().parents[2] / "classifiers"
    data = tiny_spec_data(corpus, base_runs, seeds=(0,), arms=["classifier_upsampling"])
    data["arms"]["classifier"] = shipped / "catalyst-proxy"
    shared = load_spec(write_spec(tmp_path / "shared.toml", data))
    data["seeds"][0]["classifier"] = shipped / "catalyst-default"
    own = load_spec(write_spec(tmp_path / "own.toml", data))
    order, tokenizer = DataOrder.load(own.seeds[0].run), load_tokenizer(str(own.tokenizer))
    window = list(range(4 * 4, 8 * 4))
    texts = arms.sample_texts(order, tokenizer, window)
    chosen = {}
    for spec, name in ((shared, "catalyst-proxy"), (own, "catalyst-default")):
        curation = tmp_path / name
        (schedule,) = arms.arm_schedules(
            spec, spec.seeds[0], ["classifier_upsampling"], order, tokenizer, curation
        ).values()
        chosen[name] = schedule["duplicate"][0]["samples"]
        assert chosen[name] == pipeline_top_k(window, load_classifier(shipped / name).score(texts), 4)
    assert chosen["catalyst-proxy"] != chosen["catalyst-default"]
    assert own.seeds[0].classifier == shipped / "catalyst-default" and shared.seeds[0].classifier is None


def test_influence_scores_of_another_run_window_or_unit_are_refused(tmp_path, corpus, base_runs):
    spec = tiny_spec(tmp_path, corpus, base_runs, arms=["targeted_removal"])
    (seed,) = spec.seeds
    try:
        write_scores(seed, train=f"{(base_runs / 'base1').resolve()} steps 4:8")
        with pytest.raises(
            UserError, match=r"seeds\[0\]\.scores: .* scores '.*base1 steps 4:8', not this seed's run and window"
        ):
            plan(spec, tmp_path / "out", ("baseline", "targeted_removal"), show_progress=False)
        write_scores(seed, unit="0.3")
        with pytest.raises(UserError, match="scores unit '0.3', not this seed's unit '1.0'"):
            plan(spec, tmp_path / "out", ("baseline", "targeted_removal"), show_progress=False)
        write_scores(seed, model=str(base_runs / "base0" / "step_8"))
        with pytest.raises(
            UserError, match=r"attributes the checkpoint '.*base0/step_8', not '.*base0/step_4' \(influence_step\)"
        ):
            plan(spec, tmp_path / "out", ("baseline", "targeted_removal"), show_progress=False)
        write_scores(seed, indices=range(20, 36))  # steps 5..8: shifted by one step
        with pytest.raises(UserError, match="sample_index spans 20..35 .* not the window's 16..31"):
            plan(spec, tmp_path / "out", ("baseline", "targeted_removal"), show_progress=False)
    finally:
        write_scores(seed)
    missing = load_spec(
        write_spec(
            tmp_path / "missing.toml",
            {
                **tiny_spec_data(corpus, base_runs, seeds=(0,)),
                "seeds": [
                    {"seed": 0, "run": base_runs / "base0", "window": [4, 8], "scores": tmp_path / "none.parquet"}
                ],
            },
        )
    )
    command = r"none.parquet: no such file \(compute it: mda-curate influence --model .*base0/step_4 .*--steps 4:8 --unit 1.0"
    with pytest.raises(UserError, match=command):
        plan(missing, tmp_path / "out2", ("baseline", "targeted_removal"), show_progress=False)


def test_a_later_influence_step_trains_the_base_run_on_to_it_and_scores_that_checkpoint(tmp_path, corpus, base_runs):
    shutil.copytree(base_runs / "base0", tmp_path / "base0")  # trained to the window start, step 4
    data = tiny_spec_data(corpus, tmp_path, seeds=(0,))
    data["seeds"][0]["influence_step"] = 8
    spec = load_spec(write_spec(tmp_path / "spec.toml", data))
    command = r"scores0.parquet: no such file \(compute it: mda-curate influence --model .*base0/step_8 .*--steps 4:8 --unit 1.0"
    with pytest.raises(UserError, match=command):
        plan(spec, tmp_path / "out", ("baseline", "targeted_removal"), show_progress=False)
    assert (tmp_path / "base0" / "step_8" / "model.safetensors").is_file()
    write_scores(spec.seeds[0])
    runs = plan(spec, tmp_path / "out", ("baseline", "targeted_removal"), show_progress=False)
    assert [r.arm for r in runs] == ["baseline", "targeted_removal"]


def test_an_unavailable_classifier_or_inserted_file_fails_with_a_clear_error(tmp_path, corpus, base_runs, monkeypatch):
    import sys

    spec = tiny_spec(tmp_path, corpus, base_runs, arms__synthetic=tmp_path / "absent.jsonl")
    with pytest.raises(
        UserError, match=r"arms.synthetic: .*absent.jsonl: no such file \(make it with `mda-curate augment generate`"
    ):
        plan(spec, tmp_path / "out", ("baseline", "synthetic_augmentation"), show_progress=False)
    control = tiny_spec(tmp_path, corpus, base_runs, arms__random_documents=tmp_path / "absent.jsonl")
    with pytest.raises(
        UserError,
        match=r"arms.random_documents: .*absent.jsonl: no such file \(make it with `mda-curate augment control`",
    ):
        plan(control, tmp_path / "out", ("baseline", "random_insertion"), show_progress=False)
    generic = tiny_spec(tmp_path, corpus, base_runs, arms__generic_documents=tmp_path / "absent.jsonl")
    with pytest.raises(
        UserError,
        match=r"arms.generic_documents: .*absent.jsonl: no such file \(make it with `mda-curate augment control --generic`",
    ):
        plan(generic, tmp_path / "out", ("baseline", "generic_insertion"), show_progress=False)
    monkeypatch.setitem(sys.modules, "mda_curate.classifier", None)  # as before the classifier package existed
    with pytest.raises(UserError, match="classifier_upsampling: the catalyst classifier is not available"):
        plan(spec, tmp_path / "out", ("baseline", "classifier_upsampling"), show_progress=False)


def test_a_base_run_is_checked_by_the_content_of_its_data_not_the_folder_it_was_read_from(tmp_path, corpus, base_runs):
    from mda_curate.validation.runner import check_base_run

    moved = shutil.copytree(corpus, tmp_path / "moved")  # the spec's data in another checkout
    data = tiny_spec_data(moved, base_runs, seeds=(0,))
    spec = load_spec(write_spec(tmp_path / "moved.toml", data))
    check_base_run(spec, spec.seeds[0], "seeds[0]")
    (moved / "train.jsonl").write_text((moved / "train.jsonl").read_text().replace("a", "b", 1))
    with pytest.raises(
        UserError,
        match=r"seeds\[0\].run: .*base0 was trained on other content than the spec's \(changed: data\..*train.jsonl",
    ):
        check_base_run(spec, spec.seeds[0], "seeds[0]")


def test_a_base_run_copied_with_its_checkpoints_only_gets_its_data_order_back(tmp_path, corpus, base_runs):
    from mda_curate.training.data import DataOrder

    copied = tmp_path / "runs"
    shutil.copytree(
        base_runs, copied, ignore=shutil.ignore_patterns("order.npy", "sources.json", "streams.npz", "tokenized")
    )
    spec = tiny_spec(tmp_path, corpus, copied)
    plan(spec, tmp_path / "out", ("baseline", "random_removal"), show_progress=False)
    rebuilt, original = DataOrder.load(copied / "base0"), DataOrder.load(base_runs / "base0")
    assert np.array_equal(rebuilt.order, original.order)
    assert all(np.array_equal(rebuilt.sample(g), original.sample(g)) for g in range(0, 48, 7))


def test_a_base_run_of_another_recipe_and_an_output_of_another_spec_are_refused(tmp_path, corpus, base_runs):
    spec = tiny_spec(tmp_path, corpus, base_runs, train__lr=0.01)
    with pytest.raises(
        UserError,
        match=r"seeds\[0\].run: .*base0 was trained with another config than the spec's \(lr: 0.001 -> 0.01\)",
    ):
        plan(spec, tmp_path / "out", ("baseline",), show_progress=False)
    save_spec(tiny_spec(tmp_path, corpus, base_runs), tmp_path / "out")
    save_spec(
        tiny_spec(tmp_path, corpus, base_runs, arms=["baseline"]), tmp_path / "out"
    )  # other arms: same experiment
    with pytest.raises(UserError, match="holds an experiment with another spec \\(changed arms.k\\)"):
        save_spec(tiny_spec(tmp_path, corpus, base_runs, arms__k=2), tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "spec.json").read_text())
    del saved["arms"]["spread"]  # a folder made before arms.spread existed
    (tmp_path / "out" / "spec.json").write_text(json.dumps(saved))
    save_spec(
        tiny_spec(tmp_path, corpus, base_runs), tmp_path / "out"
    )  # the new field at its default: same experiment
    with pytest.raises(UserError, match="holds an experiment with another spec \\(changed arms.spread\\)"):
        save_spec(tiny_spec(tmp_path, corpus, base_runs, arms__spread=True), tmp_path / "out")
    del saved["seeds"][0]["classifier"]  # nor before seeds[].classifier existed
    (tmp_path / "out" / "spec.json").write_text(json.dumps(saved))
    save_spec(tiny_spec(tmp_path, corpus, base_runs), tmp_path / "out")
