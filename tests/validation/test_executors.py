import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mda_curate.cli import main
from mda_curate.validation.executors import RayExecutor, SlurmExecutor
from mda_curate.validation.runner import run_experiment
from mda_curate.validation.spec import load_spec

from .conftest import tiny_spec_data, write_spec


def _two_arm_runs(tmp_path, base_runs, corpus, **train):
    """Seed 0's baseline and random_removal, branched at step 4 and trained to step 8."""
    data = tiny_spec_data(corpus, base_runs, seeds=(0,), arms=["random_removal"])
    data["seeds"][0]["until"] = 8
    data["train"].update(train)
    return write_spec(tmp_path / "spec.toml", data)


@pytest.mark.slow  # a local Ray cluster starts and imports torch in its workers: minutes on 2 shared cores
def test_ray_tasks_give_the_results_of_the_local_pool(tmp_path, corpus, base_runs):
    spec = load_spec(_two_arm_runs(tmp_path, base_runs, corpus))
    local = run_experiment(spec, tmp_path / "local", show_progress=False)
    ray = run_experiment(spec, tmp_path / "ray", show_progress=False, executor=RayExecutor(workers=2))
    assert ray["arms"] == local["arms"]
    results = pq.read_table(tmp_path / "ray" / "results.parquet")
    assert results.equals(pq.read_table(tmp_path / "local" / "results.parquet"))
    for arm in ("baseline", "random_removal"):
        metrics = pq.read_table(tmp_path / "ray" / "seed0" / arm / "metrics.parquet")
        assert metrics.equals(pq.read_table(tmp_path / "local" / "seed0" / arm / "metrics.parquet"))
        assert sorted(metrics.column("step").unique().to_pylist()) == [4, 6, 8]


def _job_lines(script: Path) -> tuple[list[str], list[str]]:
    lines = script.read_text().splitlines()
    return [line.removeprefix("#SBATCH ") for line in lines if line.startswith("#SBATCH ")], lines


def test_slurm_writes_one_job_per_arm_run_whose_command_runs_it_alone(tmp_path, corpus, base_runs, capsys):
    spec_path = _two_arm_runs(tmp_path, base_runs, corpus, device="cuda", threads=3)
    out = tmp_path / "slurm-out"
    argv = ["validate", str(spec_path), "--out", str(out), "--executor", "slurm", "--sbatch=--time=01:00:00"]
    assert main(argv) == 0
    printed = capsys.readouterr().err  # the console writes to stderr
    assert "2 of 2 arm-runs not finished yet: seed0/baseline, seed0/random_removal" in printed
    assert "sbatch" in printed and not (out / "summary.json").exists()

    scripts = sorted((out / "slurm").glob("*.sh"))
    assert [s.name for s in scripts] == ["seed0_baseline.sh", "seed0_random_removal.sh"]
    options, lines = _job_lines(scripts[1])
    assert options == [
        "--job-name=tiny-seed0_random_removal",
        f"--output={out.resolve()}/slurm/seed0_random_removal.log",
        "--ntasks=1",
        "--cpus-per-task=3",
        "--gres=gpu:1",
        "--time=01:00:00",
    ]
    command = shlex.split(lines[-1].removeprefix("exec "))
    assert command == [
        sys.executable,
        "-m",
        "mda_curate.cli",
        "validate",
        str(spec_path.resolve()),
        "--out",
        str(out.resolve()),
        "--only",
        "seed0/random_removal",
    ]
    assert lines[0] == "#!/bin/bash" and (out / "seed0" / "random_removal" / "schedule.json").is_file()


def test_a_slurm_jobs_command_gives_the_local_metrics_and_a_rerun_collects_them(tmp_path, corpus, base_runs, capsys):
    spec_path = _two_arm_runs(tmp_path, base_runs, corpus)
    local = run_experiment(load_spec(spec_path), tmp_path / "local", show_progress=False)
    out = tmp_path / "slurm-out"
    assert run_experiment(load_spec(spec_path), out, show_progress=False, executor=SlurmExecutor()) is None

    for i, script in enumerate(sorted((out / "slurm").glob("*.sh"))):
        _, lines = _job_lines(script)
        command = shlex.split(lines[-1].removeprefix("exec "))
        if i == 0:  # as the job would: the script's command in its folder (the other one in this process, for time)
            subprocess.run(command, check=True, cwd=lines[-2].removeprefix("cd "), capture_output=True)
        else:
            assert main(command[3:]) == 0
        arm = script.stem.removeprefix("seed0_")
        metrics = pq.read_table(out / "seed0" / arm / "metrics.parquet")
        assert metrics.equals(pq.read_table(tmp_path / "local" / "seed0" / arm / "metrics.parquet"))

    assert main(command[3:]) == 0 and "already done" in capsys.readouterr().err  # a job run twice leaves it as it is
    collected = run_experiment(load_spec(spec_path), out, show_progress=False, executor=SlurmExecutor())
    assert collected["arms"] == local["arms"]
    assert pq.read_table(out / "results.parquet").equals(pq.read_table(tmp_path / "local" / "results.parquet"))


def _fake_slurm(bin_dir: Path, queued: str) -> Path:
    """``sbatch`` that logs its arguments and answers job ids 101, 102, ...; ``squeue`` that lists ``queued``."""
    bin_dir.mkdir()
    log = bin_dir / "sbatch.log"
    scripts = {
        "sbatch": f'echo "$@" >> {log}\necho "$((100 + $(wc -l < {log})));cluster"\n',
        "squeue": f'case " $* " in *" {queued} "*) echo RUNNING;; esac\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/bin/bash\n" + body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    return log


def test_slurm_submit_skips_arm_runs_whose_job_is_still_queued(tmp_path, corpus, base_runs, monkeypatch):
    spec_path = _two_arm_runs(tmp_path, base_runs, corpus)
    log = _fake_slurm(tmp_path / "bin", queued="101")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin")
    out = tmp_path / "out"
    argv = ["validate", str(spec_path), "--out", str(out), "--executor", "slurm", "--slurm-submit"]
    assert main(argv) == 0
    assert log.read_text().splitlines() == [
        f"--parsable {out}/slurm/seed0_baseline.sh",
        f"--parsable {out}/slurm/seed0_random_removal.sh",
    ]
    assert (out / "slurm" / "seed0_baseline.jobid").read_text() == "101\n"
    assert main(argv) == 0  # job 101 is still listed, job 102 is not: only the random_removal one is submitted again
    assert log.read_text().splitlines()[2:] == [f"--parsable {out}/slurm/seed0_random_removal.sh"]


def test_executor_flags_need_their_executor(tmp_path, capsys):
    (tmp_path / "spec.toml").write_text("")
    assert main(["validate", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out"), "--slurm-submit"]) == 2
    assert "--slurm-submit: only with --executor slurm" in capsys.readouterr().err


def test_only_names_an_arm_run_of_a_planned_experiment(tmp_path, corpus, base_runs, capsys):
    spec_path = _two_arm_runs(tmp_path, base_runs, corpus)
    argv = ["validate", str(spec_path), "--out", str(tmp_path / "out"), "--only"]
    assert main([*argv, "seed0/baseline"]) == 2
    assert "holds no experiment (no spec.json)" in capsys.readouterr().err
    run_experiment(load_spec(spec_path), tmp_path / "out", show_progress=False, executor=SlurmExecutor())
    assert main([*argv, "seed3/baseline"]) == 2
    expected = "--only: must be an arm-run of the spec, seed<S>/<arm> with seeds seed0 (got 'seed3/baseline')"
    assert expected in capsys.readouterr().err


class Stopped(Exception):
    pass


def test_an_arm_run_job_trains_on_the_specs_device(tmp_path, corpus, base_runs, monkeypatch):
    from mda_curate.training.trainer import Trainer

    spec_path = _two_arm_runs(tmp_path, base_runs, corpus, device="cuda")
    run_experiment(load_spec(spec_path), tmp_path / "out", show_progress=False, executor=SlurmExecutor())
    devices = []

    def record(self, config, *args, **kwargs):
        devices.append(config.device)
        raise Stopped  # no GPU needed: stop before training

    monkeypatch.setattr(Trainer, "__init__", record)
    with pytest.raises(Stopped):
        main(["validate", str(spec_path), "--out", str(tmp_path / "out"), "--only", "seed0/random_removal"])
    assert devices == ["cuda"]
