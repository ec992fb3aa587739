"""Fault injection: hostile inputs, inputs changed between runs, and a killed run.

Every row states the exact outcome: a counted rejection (reason and line) in ``stats.json`` and the
exclusion records, or exit code 2 with one line naming the file, line or option. Nothing may crash with a
traceback, and no rerun may return results computed from other content.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mda_curate.cli import main

GOOD = [{"id": f"g{i}", "text": f"good document {i}: " + "alpha beta gamma " * (i + 1)} for i in range(5)]


def jsonl(records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def parquet(records) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink)
    return sink.getvalue()


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def cli(capsys, *args) -> tuple[int, str]:
    """Run the CLI in-process; returns the exit code and the last line of stderr."""
    code = main([str(a) for a in args])
    lines = capsys.readouterr().err.strip().splitlines()
    return code, lines[-1] if lines else ""


def curate(capsys, pipeline: str, *args) -> tuple[int, str]:
    return cli(capsys, "curate", pipeline, *args, "--workers", 1)


def excluded(out: Path, kind: str) -> list[dict]:
    paths = sorted((out / "excluded").glob(f"{kind}_*.jsonl"))
    return [json.loads(line) for path in paths for line in path.read_text().splitlines()]


# (case, file name, content, valid documents, {reason: [lines]})
HOSTILE_FILES = [
    (
        "truncated gzip",
        "t.jsonl.gz",
        gzip.compress(jsonl(GOOD), mtime=0) + gzip.compress(jsonl(GOOD), mtime=0)[:20],
        5,
        {"unreadable_file": [6]},
    ),
    (
        "corrupt gzip",
        "c.jsonl.gz",
        gzip.compress(jsonl(GOOD), mtime=0) + b"this is not gzip",
        5,
        {"unreadable_file": [6]},
    ),
    ("truncated parquet", "t.parquet", parquet(GOOD)[:300], 0, {"unreadable_file": [1]}),
    (
        "media field",
        "m.jsonl",
        jsonl([GOOD[0], {"text": "x", "media": "oops"}, {"text": "y", "media": [{"bad": 1}]}]),
        1,
        {"invalid_media": [2, 3]},
    ),
    (
        "2,000-deep JSON",
        "d.jsonl",
        jsonl([deep(2000), GOOD[0], b'{"text": "x", "deep": ' + deep(2000) + b"}"]),
        1,
        {"malformed_json": [1, 3]},
    ),
    (
        "bad and duplicate ids",
        "i.jsonl",
        jsonl(
            [
                {"id": None, "text": "a"},
                {"id": 5, "text": "b"},
                {"id": "", "text": "c"},
                GOOD[0],
                GOOD[0],
                {"text": "no id"},
                {"id": 1.5, "text": "d"},
                {"id": "5", "text": "e"},
                {"id": True, "text": "f"},
            ]
        ),
        3,
        {"invalid_id": [1, 3, 7, 9], "duplicate_id": [5, 8]},
    ),
]


@pytest.mark.parametrize("case, name, content, valid, rejected", HOSTILE_FILES, ids=[row[0] for row in HOSTILE_FILES])
def test_a_hostile_file_is_counted_not_fatal(tmp_path, capsys, case, name, content, valid, rejected):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_bytes(content)
    (tmp_path / "in" / "ok.jsonl").write_bytes(jsonl(GOOD[1:3]))  # the run goes on past the bad file
    out = tmp_path / "out"
    assert curate(capsys, "score", tmp_path / "in", "--output", out)[0] == 0
    stats = json.loads((out / "stats.json").read_text())
    lines = sum(map(len, rejected.values()))
    assert (stats["kept"], stats["rejected"], stats["lines_read"]) == (valid + 2, lines, valid + 2 + lines)
    assert stats["rejected_by_reason"] == {reason: len(at) for reason, at in rejected.items()}
    found = {(r["metadata"]["filter_reason"], r["metadata"]["line"]) for r in excluded(out, "rejected")}
    assert found == {(reason, line) for reason, at in rejected.items() for line in at}
    assert {Path(r["metadata"]["file"]).name for r in excluded(out, "rejected")} == {name}


def test_excluded_records_keep_their_bytes_and_their_location(tmp_path, capsys):
    lines = [json.dumps(GOOD[0]).encode(), b'{"text": "caf\xe9"}', b"[1,   2]", json.dumps(GOOD[1]).encode()]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    assert curate(capsys, "filter", tmp_path / "a.jsonl", "--output", out, "--threshold", 1)[0] == 0
    rejected = {r["metadata"]["line"]: r for r in excluded(out, "rejected")}
    assert base64.b64decode(rejected[2]["metadata"]["raw_base64"]) == lines[1]
    assert rejected[3]["text"] == "[1,   2]" and "raw_base64" not in rejected[3]["metadata"]
    dropped = excluded(out, "dropped")
    assert {(d["id"], d["metadata"]["line"], d["metadata"]["file"]) for d in dropped} == {
        ("g0", 1, str(tmp_path / "a.jsonl")),
        ("g1", 4, str(tmp_path / "a.jsonl")),
    }


def test_an_input_given_twice_is_read_once(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(jsonl(GOOD))
    out = tmp_path / "out"
    assert curate(capsys, "score", tmp_path / "in", tmp_path / "in" / "a.jsonl", "--output", out)[0] == 0
    assert json.loads((out / "stats.json").read_text())["lines_read"] == len(GOOD)
    code, message = curate(
        capsys, "mix", tmp_path / "in", tmp_path / "in" / "a.jsonl", "--weights", 1, 1, "--output", tmp_path / "mix"
    )
    assert code == 2 and "in two mix sources" in message


def test_gzip_output_is_byte_identical_between_identical_runs(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_bytes(jsonl(GOOD))
    for out in ("one", "two"):
        code, _ = curate(capsys, "score", tmp_path / "a.jsonl", "--output", tmp_path / out, "--compression", "gzip")
        assert code == 0
        time.sleep(1.1)  # a header time would now differ
    assert (tmp_path / "one" / "00000.jsonl.gz").read_bytes() == (tmp_path / "two" / "00000.jsonl.gz").read_bytes()


# ---- reruns after the content changed ----


def test_curate_refuses_a_finished_output_of_other_inputs(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(jsonl(GOOD[:2]))
    (tmp_path / "b.jsonl").write_bytes(jsonl(GOOD[2:]))
    out = tmp_path / "out"
    assert curate(capsys, "score", tmp_path / "in", "--output", out, "--tasks", 1)[0] == 0
    code, message = curate(capsys, "score", tmp_path / "b.jsonl", "--output", out, "--tasks", 1)
    assert (
        code == 2
        and f"changed: content.inputs.{tmp_path / 'b.jsonl'}" in message
        and "write to a new output folder" in message
    )
    (tmp_path / "in" / "added.jsonl").write_bytes(jsonl(GOOD[2:]))
    code, message = curate(capsys, "score", tmp_path / "in", "--output", out, "--tasks", 1)
    assert code == 2 and f"changed: content.inputs.{tmp_path / 'in' / 'added.jsonl'}" in message
    (tmp_path / "in" / "added.jsonl").unlink()
    (tmp_path / "in" / "a.jsonl").write_bytes(jsonl(GOOD[2:4]))  # same line count, other content
    code, message = curate(capsys, "score", tmp_path / "in", "--output", out, "--tasks", 1)
    assert code == 2 and f"content.inputs.{tmp_path / 'in' / 'a.jsonl'}.s" in message
    assert json.loads((out / "stats.json").read_text())["kept"] == 2  # the finished run is untouched


def test_curate_refuses_a_finished_output_of_another_classifier(tmp_path, capsys):
    from mda_curate.classifier.model import DEFAULT_CLASSIFIER

    (tmp_path / "a.jsonl").write_bytes(jsonl(GOOD))
    classifier = tmp_path / "classifier"
    classifier.mkdir()
    for name in ("model.skops", "card.json"):
        (classifier / name).write_bytes((DEFAULT_CLASSIFIER / name).read_bytes())
    out = tmp_path / "out"
    assert curate(capsys, "score", tmp_path / "a.jsonl", "--output", out, "--classifier", classifier)[0] == 0
    card = json.loads((classifier / "card.json").read_text())
    (classifier / "card.json").write_text(json.dumps({**card, "name": "retrained"}))
    code, message = curate(capsys, "score", tmp_path / "a.jsonl", "--output", out, "--classifier", classifier)
    assert code == 2 and "changed: content.classifier.card.json.s" in message


def test_a_met_target_share_is_one_line_and_the_corrected_rerun_runs(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_bytes(jsonl(GOOD))
    out = tmp_path / "out"
    code = main(
        [
            "curate",
            "upsample",
            str(tmp_path / "a.jsonl"),
            "--output",
            str(out),
            "--workers",
            "1",
            "--threshold",
            "0",
            "--target-share",
            "0.5",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith("the catalyst share is already 1 >= 0.5: nothing to upsample")
    code, _ = curate(capsys, "upsample", tmp_path / "a.jsonl", "--output", out, "--factor", 2, "--threshold", 0)
    stats = json.loads((out / "stats.json").read_text())
    assert code == 0 and (stats["kept"], stats["upsampled"]) == (5, 5)
    ids = [json.loads(line)["id"] for line in (out / "00000.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 10


def save_model(neox, folder: Path, seed: int = 3, **overrides) -> Path:
    """A tiny random GPT-NeoX with the word tokenizer, saved to ``folder``."""
    neox.random_model(seed=seed, hidden_size=32, intermediate_size=64, **overrides).save_pretrained(folder)
    neox.make_tokenizer().save_pretrained(folder)
    return folder


def words(n: int, seed: int = 0) -> list[dict]:
    return [
        {"id": f"d{i}", "text": " ".join(f"w{(i * 7 + k * seed + k) % 60 + 2:02d}" for k in range(6 + i % 5))}
        for i in range(n)
    ]


def influence(capsys, model_dir, train, out, *extra) -> tuple[int, str]:
    return cli(
        capsys,
        "influence",
        "--model",
        model_dir,
        "--train",
        train,
        "--unit",
        "1.2",
        "--batch-size",
        3,
        "--probe-sequences",
        2,
        "--probe-length",
        4,
        "--out",
        out,
        *extra,
    )


def test_influence_refuses_to_resume_over_changed_data_or_weights(tmp_path, capsys, neox):
    model_dir = save_model(neox, tmp_path / "model")
    train, out = tmp_path / "train.jsonl", tmp_path / "s.parquet"
    train.write_bytes(jsonl(words(6)))
    assert influence(capsys, model_dir, train, out)[0] == 0
    train.write_bytes(jsonl(words(6, seed=5)))  # same ids and line count, other text
    code, message = influence(capsys, model_dir, train, out)
    assert code == 2 and "other arguments (factor_data_content, train_content)" in message
    train.write_bytes(jsonl(words(6)))
    assert influence(capsys, model_dir, train, out)[0] == 0  # the original content resumes
    save_model(neox, model_dir, seed=4)
    code, message = influence(capsys, model_dir, train, out)
    assert code == 2 and "other arguments (model_content)" in message


@pytest.fixture
def tokenizer_dir(neox, tmp_path):
    neox.make_tokenizer().save_pretrained(tmp_path / "tok")
    return tmp_path / "tok"


def train(capsys, tokenizer_dir, data, out, *extra) -> tuple[int, str]:
    return cli(
        capsys,
        "train",
        "--data",
        data,
        "--tokenizer",
        tokenizer_dir,
        "--out",
        out,
        "--context-length",
        8,
        "--batch-size",
        2,
        "--steps",
        4,
        "--warmup-steps",
        1,
        "--threads",
        1,
        *extra,
    )


def test_train_resume_and_validate_refuse_changed_data(tokenizer_dir, tmp_path, capsys):
    from types import SimpleNamespace

    from mda_curate.errors import UserError
    from mda_curate.training.config import TrainConfig
    from mda_curate.validation.runner import check_base_run

    data, run = tmp_path / "docs.jsonl", tmp_path / "run"
    data.write_bytes(jsonl(words(20)))
    assert train(capsys, tokenizer_dir, data, run, "--until", 2)[0] == 0
    saved = json.loads((run / "config.json").read_text())
    config = TrainConfig.from_dict(saved["train"])
    spec = SimpleNamespace(config=lambda seed: config, data=(data,), tokenizer=tokenizer_dir)
    seed = SimpleNamespace(run=run)
    check_base_run(spec, seed, "seeds[0]")  # the same content passes
    data.write_bytes(jsonl(words(20, seed=3)))
    code, message = train(capsys, tokenizer_dir, data, run, "--resume")
    assert code == 2 and f"changed content of data.{data}.sha256 (the data or tokenizer files changed)" in message
    with pytest.raises(UserError, match=f"other content than the spec's \\(changed: data.{data}.sha256"):
        check_base_run(spec, seed, "seeds[0]")


def test_a_base_run_may_start_from_a_checkpoint_but_not_carry_a_schedule(tokenizer_dir, tmp_path, capsys):
    from types import SimpleNamespace

    from mda_curate.errors import UserError
    from mda_curate.training.config import TrainConfig
    from mda_curate.validation.runner import check_base_run

    data, run = tmp_path / "docs.jsonl", tmp_path / "run"
    data.write_bytes(jsonl(words(20)))
    assert train(capsys, tokenizer_dir, data, run, "--until", 2)[0] == 0
    saved = json.loads((run / "config.json").read_text())
    spec = SimpleNamespace(
        config=lambda seed: TrainConfig.from_dict(saved["train"]), data=(data,), tokenizer=tokenizer_dir
    )
    (run / "config.json").write_text(json.dumps({**saved, "init_from": str(tmp_path / "other" / "step_2")}))
    check_base_run(spec, SimpleNamespace(run=run), "seeds[0]")  # a continuation of another run's checkpoint
    (run / "config.json").write_text(json.dumps({**saved, "schedule": {**saved["schedule"], "mask": [[0, 1]]}}))
    with pytest.raises(UserError, match="is itself an arm \\(it has a schedule\\), not a base run"):
        check_base_run(spec, SimpleNamespace(run=run), "seeds[0]")


# ---- one line with exit code 2 ----


def card_with_artifact(tmp_path, artifact) -> Path:
    from mda_curate.classifier.model import DEFAULT_CLASSIFIER

    folder = tmp_path / "classifier"
    folder.mkdir()
    (folder / "model.skops").write_bytes((DEFAULT_CLASSIFIER / "model.skops").read_bytes())
    card = {**json.loads((DEFAULT_CLASSIFIER / "card.json").read_text()), "artifact": artifact}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


REFUSALS = [  # (case, argv built from the fixtures' paths, the end of the one-line message)
    ("validate DIR", lambda p: ["validate", p.tmp, "--out", p.tmp / "v"], ": a folder; give the spec's .toml file"),
    (
        "train on an empty file",
        lambda p: ["train", "--data", p.empty, "--tokenizer", p.tok, "--out", p.tmp / "r1"],
        ": no documents",
    ),
    (
        "train --until past --steps",
        lambda p: [
            "train",
            "--data",
            p.docs,
            "--tokenizer",
            p.tok,
            "--out",
            p.tmp / "r2",
            "--steps",
            5,
            "--until",
            50,
        ],
        "--until 50: must be in 0..5 (--steps 5)",
    ),
    (
        "influence on documents of one token",
        lambda p: [
            "influence",
            "--model",
            p.model,
            "--train",
            p.short,
            "--unit",
            "1.2",
            "--out",
            p.tmp / "s1.parquet",
        ],
        "no curvature sample has 2 or more tokens: nothing to fit the factors on (check the training data)",
    ),
    (
        "influence --world-size 0",
        lambda p: [
            "influence",
            "--model",
            p.model,
            "--train",
            p.docs,
            "--unit",
            "1.2",
            "--world-size",
            0,
            "--out",
            p.tmp / "s2.parquet",
        ],
        "--world-size: must be at least 1 (got 0)",
    ),
    (
        "influence on a bad line",
        lambda p: ["influence", "--model", p.model, "--train", p.bad, "--unit", "1.2"],
        (
            "bad.jsonl:2: malformed JSON (Expecting property name enclosed in double quotes, column 2) "
            "(fix or remove the line)"
        ),
    ),
    (
        "influence --steps past the run",
        lambda p: ["influence", "--model", p.model, "--train", p.run, "--steps", "2:6", "--unit", "1.2"],
        "steps 2:6 go past the run's 4 steps",
    ),
    (
        "units --seq-len past the positions",
        lambda p: ["units", p.short_model, "--seq-len", 40, "--sequences", 2],
        (
            "--seq-len: x of 40 tokens makes probe sequences of 81 tokens (BOS and two copies), past the model's 64 "
            "positions"
        ),
    ),
    (
        "classifier card with a null artifact",
        lambda p: [
            "curate",
            "score",
            p.docs,
            "--output",
            p.tmp / "c",
            "--classifier",
            card_with_artifact(p.tmp / "n", None),
        ],
        "card.json: artifact is null, not an object with the model's sha256",
    ),
    (
        "classifier card with a string artifact",
        lambda p: [
            "curate",
            "score",
            p.docs,
            "--output",
            p.tmp / "c",
            "--classifier",
            card_with_artifact(p.tmp / "s", "x"),
        ],
        'card.json: artifact is "x", not an object with the model\'s sha256',
    ),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory, neox):
    """Files the refusals read, made once: documents, a 4-step run, models of 256 and 64 positions."""
    from types import SimpleNamespace

    tmp = tmp_path_factory.mktemp("refusals")
    models = {"model": {}, "short_model": {"max_position_embeddings": 64}}
    for name, overrides in models.items():
        save_model(neox, tmp / name, **overrides)
    files = {
        "empty": b"",
        "docs": jsonl(words(20)),
        "short": jsonl([{"text": "w05"}, {"text": "w06"}]),
        "bad": jsonl([words(1)[0], b"{oops"]),
    }
    for name, content in files.items():
        (tmp / f"{name}.jsonl").write_bytes(content)
    (tmp / "n").mkdir(), (tmp / "s").mkdir()
    argv = [
        "train",
        "--data",
        tmp / "docs.jsonl",
        "--tokenizer",
        tmp / "model",
        "--out",
        tmp / "run",
        "--context-length",
        8,
        "--batch-size",
        2,
        "--steps",
        4,
        "--warmup-steps",
        1,
        "--threads",
        1,
    ]
    assert main([str(a) for a in argv]) == 0
    return SimpleNamespace(
        tmp=tmp,
        tok=tmp / "model",
        run=tmp / "run",
        **{name: tmp / name for name in models},
        **{name: tmp / f"{name}.jsonl" for name in files},
    )


@pytest.mark.parametrize("case, argv, message", REFUSALS, ids=[row[0] for row in REFUSALS])
def test_bad_input_is_one_line_with_exit_code_2(paths, capsys, case, argv, message):
    code = main([str(a) for a in argv(paths)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(message)


# ---- a killed run ----

KILLED_MANAGER = """
import os, signal, sys
import multiprocess
from mda_curate.pipelines.run import end_children_with_this_process
if sys.argv[1] == "guarded":
    end_children_with_this_process()
manager = multiprocess.Manager()
print(manager._process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("guarded", [True, False])
def test_a_killed_run_leaves_no_multiprocessing_manager(tmp_path, guarded):
    """datatrove's local executor starts a multiprocess Manager; without the guard it outlives a SIGKILL."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    out = tmp_path / "pid"
    with out.open("w") as stdout:  # not a pipe: a surviving manager would hold it open
        done = subprocess.run(
            [sys.executable, "-c", KILLED_MANAGER, "guarded" if guarded else "bare"],
            env=env,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    assert done.returncode == -signal.SIGKILL
    pid = int(out.read_text().split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and guarded and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert alive is not guarded


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_killed_curate_leaves_nothing_running_and_resumes_to_the_same_output(tmp_path, capsys):
    """SIGKILL `curate` while its datatrove manager runs: the manager ends too, and a rerun writes what an
    uninterrupted run writes."""
    (tmp_path / "in").mkdir()
    for k in range(4):
        docs = [{"id": f"s{k}-{i}", "text": f"shard {k}, {i}: " + "alpha beta " * (i % 7 + 1)} for i in range(1000)]
        (tmp_path / "in" / f"s{k}.jsonl").write_bytes(jsonl(docs))
    argv = ["curate", "score", tmp_path / "in", "--output", tmp_path / "killed", "--workers", 1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "mda_curate.cli", *map(str, argv)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    while process.poll() is None and not children.read_text().split():
        time.sleep(0.01)
    manager = [int(pid) for pid in children.read_text().split()] if process.poll() is None else []
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert manager, "the run ended before its manager was seen"
    deadline = time.monotonic() + 10
    while any(map(_alive, manager)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, manager))
    assert cli(capsys, *argv)[0] == 0
    assert curate(capsys, "score", tmp_path / "in", "--output", tmp_path / "clean")[0] == 0
    for name in [f"{rank:05d}.jsonl" for rank in range(4)] + ["stats.json"]:
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()
