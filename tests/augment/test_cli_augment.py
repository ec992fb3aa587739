import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mda_curate.augment import (
    MotifProfile,
    TokenCounter,
    latex_table,
    mine_motifs,
    word_pool,
    write_documents,
    xml_records,
)
from mda_curate.augment.insertion import count_tokens
from mda_curate.cli import main
from mda_curate.data.documents import read_documents
from mda_curate.training.schedule import Schedule


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """20 documents: 10 LaTeX tables scored high, 10 XML record lists scored low."""
    folder = tmp_path_factory.mktemp("scored")
    rng, words = np.random.default_rng(0), word_pool()
    docs = [{"id": f"t{i}", "text": latex_table(rng, words, 5, 3), "domain": "latex"} for i in range(10)]
    docs += [{"id": f"x{i}", "text": xml_records(rng, words, 4, 2), "domain": "markup"} for i in range(10)]
    write_documents(docs, folder / "docs.jsonl")
    scores = [float(20 - i) for i in range(20)]
    pq.write_table(pa.table({"doc_id": [d["id"] for d in docs], "score": scores}), folder / "scores.parquet")
    pq.write_table(pa.table({"doc_id": [d["id"] for d in docs], "influence": scores}), folder / "no_score.parquet")
    return folder


def test_mine_generate_schedule_control(scored, tmp_path, capsys):
    profile_path, synthetic, schedule = (
        tmp_path / "profile.json",
        tmp_path / "synthetic.jsonl",
        tmp_path / "schedule.json",
    )
    mine = ["augment", "mine", "--scores", str(scored / "scores.parquet"), "--data", str(scored / "docs.jsonl")]
    assert main([*mine, "--top-fraction", "0.25", "--out", str(profile_path)]) == 0
    profile = MotifProfile.load(profile_path)
    assert (profile.top.n_docs, profile.bottom.n_docs) == (5, 5)
    assert profile.top.kinds == {"latex": 1.0} and profile.bottom.kinds == {"markup": 1.0}
    assert profile.top.structure["table_columns"] == {"3": 25}
    assert [(e["key"], e["score"]) for e in profile.examples[:2]] == [("t0", 20.0), ("t1", 19.0)]
    assert profile.source["scored_rows"] == 20

    assert (
        main(
            [
                "augment",
                "generate",
                "--profile",
                str(profile_path),
                "--tokens",
                "1000",
                "--out",
                str(synthetic),
                "--seed",
                "2",
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in synthetic.read_text().splitlines()]
    assert {r["motif"] for r in records} == {"latex"} and all(r["params"]["columns"] == 3 for r in records)
    assert 1000 - 128 <= sum(r["n_tokens"] for r in records) <= 1000
    assert "tokens of a budget of 1000 (estimated as ceil(characters / 4))" in " ".join(
        capsys.readouterr().err.split()
    )

    assert (
        main(
            [
                "augment",
                "schedule",
                "--synthetic",
                str(synthetic),
                "--start",
                "10",
                "--rows-per-step",
                "2",
                "--out",
                str(schedule),
            ]
        )
        == 0
    )
    assert json.loads(schedule.read_text()) == {
        "insert": [{"path": "synthetic.jsonl", "start": 10, "rows_per_step": 2}]
    }
    assert Schedule.load(schedule, steps=50, batch_size=4).insert[0].path == str(synthetic)

    control = tmp_path / "control.parquet"
    assert (
        main(
            [
                "augment",
                "control",
                "--synthetic",
                str(synthetic),
                "--corpus",
                str(scored / "docs.jsonl"),
                "--out",
                str(control),
            ]
        )
        == 0
    )
    drawn = list(read_documents([control]))
    assert sum(-(-len(d.text) // 4) for d in drawn) in (
        sum(r["n_tokens"] for r in records) - 1,
        sum(r["n_tokens"] for r in records),
    )
    small, latex = tmp_path / "small.jsonl", tmp_path / "latex.jsonl"
    assert main(["augment", "generate", "--profile", str(profile_path), "--tokens", "300", "--out", str(small)]) == 0
    assert (
        main(
            [
                "augment",
                "control",
                "--synthetic",
                str(small),
                "--corpus",
                str(scored / "docs.jsonl"),
                "--domains",
                "latex",
                "--out",
                str(latex),
            ]
        )
        == 0
    )
    assert {d.domain for d in read_documents([latex])} == {"latex"}
    generic = tmp_path / "generic.jsonl"
    assert main(["augment", "control", "--synthetic", str(small), "--generic", "--out", str(generic)]) == 0
    _, small_tokens = count_tokens(small, TokenCounter())
    assert count_tokens(generic, TokenCounter()) == (len(list(read_documents([generic]))), small_tokens)
    assert (
        main(["augment", "control", "--synthetic", str(small), "--generic", "--domains", "latex", "--out", "x"]) == 2
    )


@pytest.fixture(scope="module")
def profiles(scored):
    """A valid profile and one whose top set names an unknown kind, next to the scored documents."""
    profile = mine_motifs([d.text for d in read_documents([scored / "docs.jsonl"])])
    (scored / "profile.json").write_text(profile.to_json())
    data = json.loads(profile.to_json())
    data["top"]["kinds"] = {"tables": 1.0}
    (scored / "bad_kind.json").write_text(json.dumps(data))
    return scored


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["mine", "--scores", "{dir}/no_score.parquet", "--data", "{dir}/docs.jsonl", "--out", "p.json"],
            "{dir}/no_score.parquet: missing column 'score' (columns: doc_id, influence)",
        ),
        (
            ["mine", "--scores", "{dir}/scores.parquet", "--run", "{dir}", "--out", "p.json"],
            "--steps: is required with a run: the window the scores cover, A:B",
        ),
        (
            ["mine", "--scores", "{dir}/scores.parquet", "--out", "p.json"],
            "give either a training run (with its scored steps) or a document file (data), not both",
        ),
        (
            [
                "mine",
                "--scores",
                "{dir}/scores.parquet",
                "--data",
                "{dir}/docs.jsonl",
                "--top-fraction",
                "0",
                "--out",
                "p.json",
            ],
            "--top-fraction: must be in (0, 1] (got 0.0)",
        ),
        (
            ["generate", "--profile", "{dir}/profile.json", "--tokens", "-1", "--out", "s.jsonl"],
            "--tokens: must be a non-negative integer (got -1)",
        ),
        (
            [
                "generate",
                "--profile",
                "{dir}/profile.json",
                "--tokens",
                "100",
                "--doc-tokens",
                "8",
                "--out",
                "s.jsonl",
            ],
            "--doc-tokens: must be at least 16 (got 8)",
        ),
        (
            ["generate", "--profile", "{dir}/bad_kind.json", "--tokens", "100", "--out", "s.jsonl"],
            "{dir}/bad_kind.json: top.kinds unknown motif kind 'tables' (known: repeated_spans, latex, markup, records, list, log, code, other)",
        ),
        (
            ["schedule", "--synthetic", "{dir}/none.jsonl", "--start", "0", "--share", "0.5", "--out", "s.json"],
            "{dir}/none.jsonl: no such file",
        ),
    ],
)
def test_user_errors_are_one_line(profiles, capsys, args, message):
    code = main(["augment", *(a.format(dir=profiles) for a in args)])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"mda-curate augment: error: {message.format(dir=profiles)}"
