import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mda_curate.errors import UserError
from mda_curate.training.trainer import Trainer
from mda_curate.validation.runner import run_experiment
from mda_curate.validation.spec import ARMS, load_spec

from .conftest import tiny_spec_data, write_spec

PNG = b"\x89PNG"


def test_every_arm_runs_and_the_summary_keeps_its_contract(tmp_path, corpus, base_runs):
    data = tiny_spec_data(corpus, base_runs, arms=ARMS)
    data["arms"]["checkpoint_every"] = 4
    for seed in data["seeds"]:
        seed["until"] = 8
    out = tmp_path / "out"
    summary = run_experiment(load_spec(write_spec(tmp_path / "spec.toml", data)), out, show_progress=False)

    saved = json.loads((out / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary)) and list(saved["arms"]) == list(ARMS)
    for arm in saved["arms"].values():
        for key in ("formation_step", "speedup", "speedup_post_branch"):
            assert set(arm[key]) == {"mean", "ci", "n"} and len(arm[key]["ci"]) == 2 and arm[key]["n"] == 2
            assert arm[key]["ci"][0] <= arm[key]["mean"] <= arm[key]["ci"][1]
        assert arm["seeds"] == 2 and arm["censored"] == 2  # nothing forms in 8 tiny steps: censored at step 8
        assert arm["formation_step"]["mean"] == 8.0
    assert "icl_vs_induction_r" in saved and saved["arms"]["baseline"]["speedup"] == {
        "mean": 1.0,
        "ci": [1.0, 1.0],
        "n": 2,
    }
    assert saved["arms"]["targeted_removal"]["branch_steps"] == [4] and saved["seeds"][0]["branch_step"] == 4

    rows = pq.read_table(out / "results.parquet").to_pylist()
    assert len(rows) == len(ARMS) * 2 * 2 * 8  # arms x seeds x checkpoints (4, 8) x heads (2 layers x 4)
    for column in (
        "induction",
        "previous_token",
        "induction_loss_first",
        "induction_loss_second",
        "icl_score",
        "heldout_loss_prose",
        "heldout_loss_code",
        "heldout_loss_markup",
        "is_unit",
        "steps_since_window",
    ):
        assert column in rows[0]
    branch = {(r["seed"], r["layer"], r["head"], r["induction"]) for r in rows if r["step"] == 4}
    assert len(branch) == 2 * 8  # every arm starts from the same checkpoint
    units = [(r["arm"], r["seed"], r["step"]) for r in rows if r["is_unit"]]
    assert len(units) == len(set(units)) == len(ARMS) * 2 * 2
    for name in ("scores.png", "formation.png"):
        assert (out / name).read_bytes()[:4] == PNG
    report = (out / "report.md").read_text()
    assert "| targeted_removal | 2 |" in report and "censored" in report
    assert (out / "spec.toml").read_text() == (tmp_path / "spec.toml").read_text()
    assert json.loads((out / "spec.json").read_text())["arms"]["k"] == 0.25


def test_arms_stop_after_formation_and_the_seed_is_compared_where_every_arm_reached(
    tmp_path, corpus, base_runs, monkeypatch
):
    from mda_curate.units import formation

    formed_from = {"baseline": 8, "random_removal": 6, "targeted_removal": None}  # planted: formed from these steps on

    def planted(checkpoint, settings=None):
        first = formed_from[Path(checkpoint).parent.parent.name]
        return first is not None and int(checkpoint.name[5:]) >= first

    monkeypatch.setattr(formation, "has_formed", planted)
    data = tiny_spec_data(corpus, base_runs, seeds=(0,))
    data["arms"]["stop_after_formation"] = 2
    spec = load_spec(write_spec(tmp_path / "spec.toml", data))
    summary = run_experiment(spec, tmp_path / "out", show_progress=False)
    rows = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    last = {arm: max(r["step"] for r in rows if r["arm"] == arm) for arm in formed_from}
    assert last == {"baseline": 10, "random_removal": 8, "targeted_removal": 12}  # formed + 2, or until
    assert summary["seeds"][0]["compared_at"] == 8 and {r["compared_at"] for r in summary["runs"]} == {8}
    assert (
        "or 2 steps after the first checkpoint where they have formed, compared at step 8"
        in (tmp_path / "out" / "report.md").read_text()
    )

    (tmp_path / "out" / "seed0" / "baseline" / "metrics.parquet").unlink()
    monkeypatch.setattr(Trainer, "__init__", lambda *a, **k: pytest.fail("a stopped arm-run was trained again"))
    again = run_experiment(spec, tmp_path / "out", show_progress=False)  # the replay finds the stop at step 10
    assert again["runs"] == summary["runs"]


def test_a_killed_experiment_resumes_to_identical_results(tmp_path, corpus, base_runs, monkeypatch):
    from mda_curate.cli import main

    spec_path = write_spec(
        tmp_path / "spec.toml",
        tiny_spec_data(corpus, base_runs, seeds=(0,), arms=["targeted_removal", "random_augmentation"]),
    )
    straight = run_experiment(load_spec(spec_path), tmp_path / "straight", show_progress=False)

    real_step = Trainer.train_step

    def killed_at_step_9(self, step, batch):
        if self.run_dir.parent.name == "random_augmentation" and step == 9:
            raise KeyboardInterrupt  # the last checkpoint is step_8: step 8 is redone on resume
        return real_step(self, step, batch)

    monkeypatch.setattr(Trainer, "train_step", killed_at_step_9)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_spec(spec_path), tmp_path / "killed", show_progress=False)
    seed0 = tmp_path / "killed" / "seed0"
    done = [
        (seed0 / arm / "metrics.parquet").is_file() for arm in ("baseline", "targeted_removal", "random_augmentation")
    ]
    assert done == [True, True, False]

    trained = []
    real_init = Trainer.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        trained.append((self.run_dir.parent.name, self.step))

    monkeypatch.setattr(Trainer, "train_step", real_step)
    monkeypatch.setattr(Trainer, "__init__", recording_init)
    assert main(["validate", str(spec_path), "--out", str(tmp_path / "killed")]) == 0
    assert trained == [("random_augmentation", 8)]  # finished arm-runs skipped; the partial one resumed at step_8

    resumed = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert resumed["arms"] == json.loads(json.dumps(straight["arms"]))
    assert pq.read_table(tmp_path / "killed" / "results.parquet").equals(
        pq.read_table(tmp_path / "straight" / "results.parquet")
    )
    logged = [
        json.loads(line)["step"]
        for line in (seed0 / "random_augmentation" / "run" / "log.jsonl").read_text().splitlines()
    ]
    assert logged == list(range(4, 12))
    only_baseline = run_experiment(load_spec(spec_path), tmp_path / "killed", arms=("baseline",), show_progress=False)
    assert list(only_baseline["arms"]) == [
        "baseline",
        "targeted_removal",
        "random_augmentation",
    ]  # earlier arms stay reported
    states = sorted(p.parent.name for p in (seed0 / "random_augmentation" / "run").glob("step_*/trainer_state.pt"))
    assert states == ["step_12"]  # optimizer states pruned but the last


def test_seeds_run_one_at_a_time_and_a_seed_added_later_joins_the_folder(tmp_path, corpus, base_runs):
    from mda_curate.cli import main

    both = tiny_spec_data(corpus, base_runs, arms=["random_removal"])
    first = run_experiment(
        load_spec(write_spec(tmp_path / "one.toml", {**both, "seeds": both["seeds"][:1]})),
        tmp_path / "out",
        show_progress=False,
    )
    assert first["arms"]["random_removal"]["seeds"] == 1 and not (tmp_path / "out" / "seed1").exists()
    spec = load_spec(write_spec(tmp_path / "both.toml", both))  # seed 1 added to the spec later
    assert main(["validate", str(tmp_path / "both.toml"), "--out", str(tmp_path / "out"), "--seeds", "1"]) == 0
    joined = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert joined["arms"]["random_removal"]["seeds"] == 2  # the report covers the seed run earlier
    run_experiment(spec, tmp_path / "together", show_progress=False)
    assert pq.read_table(tmp_path / "out" / "results.parquet").equals(
        pq.read_table(tmp_path / "together" / "results.parquet")
    )

    changed = {**both, "seeds": [both["seeds"][1], {**both["seeds"][0], "until": 10}]}
    with pytest.raises(UserError, match=r"another spec \(changed seeds.seed0.until"):
        run_experiment(load_spec(write_spec(tmp_path / "c.toml", changed)), tmp_path / "out", show_progress=False)
    run_experiment(  # a seed left out of the spec keeps its saved settings: it is checked when it comes back
        load_spec(write_spec(tmp_path / "only1.toml", {**both, "seeds": both["seeds"][1:]})),
        tmp_path / "out",
        show_progress=False,
    )
    with pytest.raises(UserError, match=r"another spec \(changed seeds.seed0.until"):
        run_experiment(load_spec(write_spec(tmp_path / "c.toml", changed)), tmp_path / "out", show_progress=False)
    assert main(["validate", str(tmp_path / "both.toml"), "--out", str(tmp_path / "out"), "--seeds", "1,7"]) == 2


def test_the_cli_reports_spec_errors_in_one_line(tmp_path, capsys):
    from mda_curate.cli import main

    (tmp_path / "spec.toml").write_text("[arms]\nk = 2.5\n")
    assert main(["validate", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().endswith("arms.k a share of the window must be in (0, 1] (got 2.5)")
    assert main(["validate", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out"), "--arms", "baseline,x"]) == 2
    assert "--arms: unknown arm 'x'" in capsys.readouterr().err


@pytest.mark.slow
def test_parallel_workers_give_the_results_of_one_worker(tmp_path, corpus, base_runs):
    spec = load_spec(write_spec(tmp_path / "spec.toml", tiny_spec_data(corpus, base_runs, arms=["random_removal"])))
    run_experiment(spec, tmp_path / "one", show_progress=False)
    run_experiment(spec, tmp_path / "two", workers=2, show_progress=False)
    assert pq.read_table(tmp_path / "two" / "results.parquet").equals(
        pq.read_table(tmp_path / "one" / "results.parquet")
    )


WORKER_SCRIPT = """
import multiprocessing, os, time
from concurrent.futures import ProcessPoolExecutor
from mda_curate.validation.runner import _start_worker

if __name__ == "__main__":
    with ProcessPoolExecutor(1, multiprocessing.get_context("spawn"), _start_worker, (1,)) as pool:
        print(pool.submit(os.getpid).result(), flush=True)
        time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(sys.platform != "linux", reason="workers end with the harness through prctl, on Linux")
def test_a_killed_harness_takes_its_workers_with_it(tmp_path):
    script = tmp_path / "harness.py"
    script.write_text(WORKER_SCRIPT)
    harness = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(harness.stdout.readline())
    assert _alive(worker)
    harness.kill()  # SIGKILL: no chance to shut the pool down
    harness.wait()
    deadline = time.monotonic() + 20
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)


def test_missing_scores_are_computed_in_process_as_the_influence_command_computes_them(tmp_path, corpus, base_runs):
    from mda_curate.cli import main
    from mda_curate.validation.arms import influence_argv
    from mda_curate.validation.runner import ensure_scores

    data = tiny_spec_data(corpus, base_runs, seeds=(0,))
    data["seeds"][0]["scores"] = tmp_path / "harness" / "scores.parquet"
    data["influence"] = {"compute": True, "args": ["--factor-samples", "8", "--strategy", "kfac", "--top", "3"]}
    spec = load_spec(write_spec(tmp_path / "spec.toml", data))
    ensure_scores(spec, spec.seeds[0], "seeds[0]")

    command = tmp_path / "command" / "scores.parquet"
    assert main([*influence_argv(spec.seeds[0])[1:], *data["influence"]["args"], "--out", str(command)]) == 0
    harness = spec.seeds[0].scores
    assert pq.read_table(harness).equals(pq.read_table(command)) and pq.read_table(harness).num_rows == 16
    summaries = [json.loads((p.parent / "scores.influence" / "summary.json").read_text()) for p in (harness, command)]
    assert summaries[0] == summaries[1]


def test_computed_scores_follow_their_run_to_another_folder_and_changed_weights_are_refused(
    tmp_path, corpus, base_runs
):
    import shutil

    from mda_curate.errors import UserError
    from mda_curate.validation.arms import check_scores_provenance
    from mda_curate.validation.runner import ensure_scores

    data = tiny_spec_data(corpus, base_runs, seeds=(0,))
    data["seeds"][0]["scores"] = tmp_path / "a" / "scores.parquet"
    data["influence"] = {"compute": True, "args": ["--factor-samples", "8", "--strategy", "identity"]}
    ensure_scores(load_spec(write_spec(tmp_path / "spec.toml", data)), *load_spec(tmp_path / "spec.toml").seeds, "s")
    shutil.copytree(base_runs / "base0", tmp_path / "moved" / "base0")  # a copy of the run and its scores
    shutil.copytree(tmp_path / "a", tmp_path / "moved" / "a")
    data["seeds"][0] |= {"run": tmp_path / "moved" / "base0", "scores": tmp_path / "moved" / "a" / "scores.parquet"}
    (moved,) = load_spec(write_spec(tmp_path / "moved.toml", data)).seeds
    check_scores_provenance(moved, "seeds[0]")  # the same content in another folder
    weights = tmp_path / "moved" / "base0" / "step_4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(UserError, match=r"computed on other data or weights .*\(changed model\..*step_4/model"):
        check_scores_provenance(moved, "seeds[0]")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--factor-samples", "0"], "influence.args: --factor-samples: must be at least 1 (got 0)"),
        (["--strategy", "newton"], "influence.args: argument --strategy: invalid choice: 'newton'"),
        (["--nope"], "influence.args: unrecognized arguments: --nope"),
    ],
)
def test_bad_influence_args_name_the_spec_and_the_flag(tmp_path, corpus, base_runs, args, message):
    from mda_curate.errors import UserError
    from mda_curate.validation.runner import ensure_scores

    data = tiny_spec_data(corpus, base_runs, seeds=(0,))
    data["seeds"][0]["scores"] = tmp_path / "scores.parquet"
    data["influence"] = {"compute": True, "args": args}
    spec = load_spec(write_spec(tmp_path / "spec.toml", data))
    with pytest.raises(UserError, match=f"^{tmp_path / 'spec.toml'}: {re.escape(message)}"):
        ensure_scores(spec, spec.seeds[0], "seeds[0]")
    assert not spec.seeds[0].scores.exists()
