"""The linear datamodeling score: planted linear effects give LDS 1 and random scores chance, the work
resumes and splits into parts, and a real retraining reproduces the run it branches from."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mda_curate.errors import UserError
from mda_curate.validation import lds
from mda_curate.validation.lds import LdsSettings, run_lds

BATCH, START, STOP = 4, 10, 110  # a window of 400 samples


def fake_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"train": {"batch_size": BATCH}}))
    (run / "order.npy").write_bytes(b"order")
    return run


def scores_file(path, values, unit="1.0"):
    samples = np.arange(START * BATCH, STOP * BATCH)
    pq.write_table(pa.table({"sample_index": samples, "score": np.asarray(values, dtype=float)}), path)
    path.with_suffix(".influence").mkdir()
    (path.with_suffix(".influence") / "arguments.json").write_text(json.dumps({"unit": unit, "probe": {}}))
    return path


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A run whose 'retraining' measures the sum of planted per-sample effects over the kept samples, plus
    a little noise per retrain seed; scores files of those effects and of random numbers."""
    effects = np.random.default_rng(1).standard_normal((STOP - START) * BATCH)
    calls = []

    def measure(run, window, end, removed, retrain_seed, arguments, work, threads):
        calls.append((len(removed), retrain_seed))
        kept = np.ones(len(window.samples), bool)
        kept[np.searchsorted(window.samples, removed)] = False
        noise = np.random.default_rng([retrain_seed, *removed[:3].tolist()]).normal(0, 0.05)
        return float(effects[kept].sum() + noise)

    monkeypatch.setattr(lds, "retrain_and_measure", measure)
    true = scores_file(tmp_path / "true.parquet", effects)
    noise = scores_file(tmp_path / "random.parquet", np.random.default_rng(2).standard_normal(len(effects)))
    return fake_run(tmp_path), [true, noise], calls


def test_planted_effects_score_one_random_scores_chance(planted, tmp_path):
    run, scores, calls = planted
    settings = LdsSettings(alphas=(0.5, 0.1), subsets=40, retrain_seeds=2)
    result = run_lds(run, scores, tmp_path / "out", settings, show_progress=False)
    assert sorted(set(calls)) == [(40, 0), (40, 1), (200, 0), (200, 1)] and len(calls) == 2 * 40 * 2
    assert result["window"] == [START, STOP] and result["end"] == STOP
    for alpha in ("0.5", "0.1"):
        entry = result["alphas"][alpha]
        true, rand = entry["lds"]["true"], entry["lds"]["random"]
        assert true["spearman"] > 0.99 and true["n"] == 40 and true["ci95"][0] > 0.95
        low, high = entry["chance"]["central95"]
        assert low < rand["spearman"] < high and abs(entry["chance"]["mean"]) < 0.05 and low < 0 < high
        assert entry["noise_floor"]["spearman"] > 0.99  # the retrain seeds differ by the planted noise only
    assert json.loads((tmp_path / "out" / "lds.json").read_text()) == result


def test_parts_share_the_work_a_rerun_resumes_and_other_settings_are_refused(planted, tmp_path, monkeypatch):
    run, scores, calls = planted
    settings = LdsSettings(alphas=(0.5,), subsets=6, retrain_seeds=2)
    whole = run_lds(run, scores, tmp_path / "whole", settings, show_progress=False)
    calls.clear()
    assert run_lds(run, scores, tmp_path / "parts", settings, part=(0, 2), show_progress=False) is None
    assert len(calls) == 6
    assert run_lds(run, scores, tmp_path / "parts", settings, part=(1, 2), show_progress=False) == whole
    monkeypatch.setattr(lds, "retrain_and_measure", lambda *a: pytest.fail("a measured subset was retrained"))
    assert run_lds(run, scores, tmp_path / "parts", settings, show_progress=False) == whole
    with pytest.raises(UserError, match=r"other inputs or settings \(changed settings.subsets\)"):
        run_lds(run, scores, tmp_path / "parts", LdsSettings(alphas=(0.5,), subsets=5), show_progress=False)
    scores_file(tmp_path / "late.parquet", np.zeros(400))
    with pytest.raises(UserError, match=r"\(changed scores\)"):
        run_lds(run, [scores[0], tmp_path / "late.parquet"], tmp_path / "parts", settings, show_progress=False)


def test_settings_and_windows_are_checked(tmp_path):
    with pytest.raises(UserError, match=r"alphas: must be shares in \(0, 1\)"):
        LdsSettings(alphas=(0.5, 1.0))
    with pytest.raises(UserError, match="subsets: must be at least 3"):
        LdsSettings(subsets=2)
    run = fake_run(tmp_path)
    pq.write_table(pa.table({"sample_index": [40, 41, 43], "score": [1.0, 2.0, 3.0]}), tmp_path / "gap.parquet")
    with pytest.raises(UserError, match="does not score every sample of steps 10:11"):
        run_lds(run, [tmp_path / "gap.parquet"], tmp_path / "out", LdsSettings(), show_progress=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, corpus):
    """A run of 8 steps (checkpoints every 2) and its influence scores for steps 2-5 on head 0.0."""
    from mda_curate.cli import main
    from mda_curate.models import load_tokenizer
    from mda_curate.training.config import TrainConfig
    from mda_curate.training.trainer import Trainer

    root = tmp_path_factory.mktemp("lds")
    config = TrainConfig(
        context_length=16, batch_size=BATCH, steps=8, warmup_steps=1, checkpoint_every=2, catalyst_share=0.5, threads=1
    )
    Trainer(config, root / "run", load_tokenizer(str(corpus / "tokenizer")), [corpus / "train.jsonl"]).train(
        show_progress=False
    )
    flags = ["--model", str(root / "run" / "step_6"), "--train", str(root / "run"), "--steps", "2:6"]
    assert (
        main(["influence", *flags, "--unit", "0.0", "--probe-sequences", "4", "--out", str(root / "s.parquet")]) == 0
    )
    return root


def test_a_retraining_without_removals_reproduces_the_run_and_a_shuffle_moves_it(tiny_run):
    run = tiny_run / "run"
    window = lds.scored_window([tiny_run / "s.parquet"], BATCH)
    arguments = json.loads((tiny_run / "s.influence" / "arguments.json").read_text())
    assert (window.start, window.stop) == (2, 6)

    def measure(removed, seed):
        return lds.retrain_and_measure(run, window, 6, np.array(removed, int), seed, arguments, tiny_run / "w", 1)

    assert measure([], 0) == lds.probe_value(run / "step_6", arguments)  # bit for bit: the same training
    assert not (tiny_run / "w").exists()  # the retrained run is deleted once measured
    shuffled = measure([], 1)
    assert shuffled != measure([], 0) and shuffled == measure([], 1)  # the order moves it, reproducibly
    assert measure([8, 9, 10], 0) != measure([], 0)


def test_the_cli_writes_the_report(tiny_run, capsys):
    from mda_curate.cli import main

    out = tiny_run / "out"
    flags = ["--run", str(tiny_run / "run"), "--scores", str(tiny_run / "s.parquet"), "--out", str(out)]
    assert main(["lds", *flags, "--alphas", "0.5", "--subsets", "3", "--retrain-seeds", "2", "--threads", "1"]) == 0
    report = json.loads((out / "lds.json").read_text())
    assert list(report["alphas"]) == ["0.5"] and report["alphas"]["0.5"]["lds"]["s"]["n"] == 3
    assert len(list((out / "alpha0.5").glob("subset*_seed*.json"))) == 6
    assert "alpha 0.5: s: LDS" in capsys.readouterr().err
    assert main(["lds", *flags, "--part", "2/2"]) == 2
    assert "--part: must be I/N with 0 <= I < N" in capsys.readouterr().err
