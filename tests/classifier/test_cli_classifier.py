"""``mda-curate classifier``: train from influence scores, the score contract (every line accounted
for), the report, and one-line user errors."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mda_curate import cli

from .conftest import planted


@pytest.fixture
def corpus(tmp_path):
    """A JSONL corpus of 60 planted documents in 6 source files (ids ``src<k>#<i>``) and their scores."""
    texts, labels, domains = planted(60, seed=5)
    path = tmp_path / "corpus.jsonl"
    rows = [{"id": f"src{i % 6}#{i}", "text": t, "domain": d} for i, (t, d) in enumerate(zip(texts, domains))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    scores = [float(label) + i / 1000 for i, label in enumerate(labels)]
    scores[0] = None  # a skipped document
    ids = [r["id"] for r in rows] + ["not-in-corpus"]
    pq.write_table(pa.table({"doc_id": ids, "score": scores + [0.5]}), tmp_path / "scores.parquet")
    return path, tmp_path / "scores.parquet"


@pytest.mark.slow
def test_train_from_influence_scores_writes_artifact_and_card(corpus, tmp_path):
    data, scores = corpus
    out = tmp_path / "classifiers" / "mine"
    args = [
        "classifier",
        "train",
        "--data",
        str(data),
        "--scores",
        str(scores),
        "--fraction",
        "0.3",
        "--max-chars",
        "500",
        "--out",
        str(out),
    ]
    assert cli.main(args) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["features"]["settings"]["max_chars"] == 500 and "--max-chars 500" in card["command"]
    assert card["data"]["scores_rows"] == 61 and card["data"]["scores_null"] == 1
    assert card["data"]["scores_unmatched"] == 1 and card["data"]["documents_unscored"] == 1
    assert card["data"]["documents"] == 34  # 30% of 59 scored documents at each end: 17 + 17
    assert card["label_rule"]["kind"] == "influence-top-bottom"
    assert card["command"].startswith("mda-curate classifier train --data ")
    assert "## Labels" in (out / "card.md").read_text()


def test_train_from_a_run_and_its_scores_names_the_influence_in_the_card(small_run, tmp_path):
    """Planted influence: the LaTeX-like samples score high, so they are the positives; the card names the run,
    unit, checkpoint and window; the split keeps each source document on one side."""
    from mda_curate.influence.window import window_samples

    run, _ = small_run
    samples = window_samples(run, (0, 10))
    scores = [float(s.domain == "latex") + s.sample_index / 1000 for s in samples]
    table = pa.table({"sample_index": [s.sample_index for s in samples], "score": scores})
    pq.write_table(table, tmp_path / "s.parquet")
    (tmp_path / "s.influence").mkdir()
    arguments = {"model": str(run / "step_5"), "unit": "1.0", "probe": {"probe": "induction"}}
    (tmp_path / "s.influence" / "arguments.json").write_text(json.dumps(arguments))
    out = tmp_path / "clf"
    args = [
        "classifier",
        "train",
        "--run",
        str(run),
        "--scores",
        str(tmp_path / "s.parquet"),
        "--fraction",
        "0.3",
        "--validation",
        "0.3",
    ]
    assert cli.main([*args, "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["influence"] == {
        "run": str(run),
        "scores": str(tmp_path / "s.parquet"),
        "window": [0, 10],
        "batch_size": 8,
        "unit": "1.0",
        "checkpoint": str(run / "step_5"),
        "probe": {"probe": "induction"},
        "label_source": "influence",
    }
    assert card["label_rule"]["kind"] == "influence-top-bottom" and card["label_rule"]["source"] == "influence"
    latex = sum(s.domain == "latex" for s in samples)
    k = int(len(samples) * 0.3)
    assert card["data"]["samples_scored"] == 80 and card["data"]["documents"] == 2 * k
    assert card["data"]["by_domain"]["latex"]["positives"] == min(k, latex)
    chosen = np.argsort(-np.asarray(scores), kind="stable")[np.r_[:k, -k:0]]
    assert card["data"]["groups"] == len({samples[i].document.split("#")[0] for i in chosen})  # source documents
    assert card["command"].startswith(f"mda-curate classifier train --run {run} --scores ")
    markdown = (out / "card.md").read_text()
    assert "## Influence" in markdown and "- unit: 1.0" in markdown and "- window: steps 0:10" in markdown


def test_the_library_call_trains_what_the_command_trains(small_run, tmp_path):
    """``classifier train --run`` is ``train_and_save(window_labelled(...))``: the same card and model."""
    from mda_curate.classifier.labels import window_labelled
    from mda_curate.classifier.train import TrainSettings, train_and_save, train_command
    from mda_curate.influence.window import window_samples

    run, _ = small_run
    samples = window_samples(run, (0, 10))
    values = [float(s.domain == "latex") + s.sample_index / 1000 for s in samples]
    scores = str(tmp_path / "s.parquet")
    pq.write_table(pa.table({"sample_index": [s.sample_index for s in samples], "score": values}), scores)
    by_command, by_library = str(tmp_path / "command" / "clf"), str(tmp_path / "library" / "clf")
    args = ["--run", str(run), "--scores", scores, "--fraction", "0.3", "--validation", "0.3", "--out", by_command]
    assert cli.main(["classifier", "train", *args]) == 0
    card = train_and_save(
        window_labelled(run, scores, 0.3),
        by_library,
        0,
        TrainSettings(validation_fraction=0.3),
        train_command(by_library, scores, str(run), fraction=0.3, validation=0.3),
    )
    expected = json.loads((Path(by_command) / "card.json").read_text().replace(by_command, by_library))
    saved = json.loads((Path(by_library) / "card.json").read_text())
    for one in (expected, saved):
        del one["artifact"]["sha256"]  # skops' zip holds the time it was written
    assert saved == expected and card["command"] == expected["command"]


def test_train_from_a_run_needs_scores(small_run, tmp_path, capsys):
    args = [
        "classifier",
        "train",
        "--run",
        str(small_run[0]),
        "--proxy-domains",
        "latex",
        "--out",
        str(tmp_path / "c"),
    ]
    assert cli.main(args) == 2
    assert "--run needs --scores" in capsys.readouterr().err


def test_score_accounts_for_every_line(trained, tmp_path, capsys):
    folder = trained[0].save(tmp_path / "clf")
    good = tmp_path / "docs.jsonl"
    lines = [
        b'{"id": "a", "text": "\\\\item x"}',
        b'{"text": 5}',
        b"not json",
        b"",
        b'{"text": "caf\xe9"}',
        b'{"id": "e", "text": ""}',
        b'{"id": "n", "text": "a\\u0000b"}',
        b'{"id": "k"}',
    ]
    good.write_bytes(b"\n".join(lines) + b"\n")
    parquet = tmp_path / "more.parquet"
    pq.write_table(pa.table({"id": ["p1", "p2"], "text": ["x = [1, 2]", "plain words"]}), parquet)
    out, summary = tmp_path / "scores.parquet", tmp_path / "summary.json"
    args = ["classifier", "score", str(good), str(parquet), "--out", str(out), "--classifier", str(folder)]
    assert cli.main(args + ["--summary", str(summary)]) == 0
    table = pq.read_table(out)
    assert table.column_names == ["doc_id", "score"]
    assert table.column("doc_id").to_pylist() == ["a", "e", "n", "p1", "p2"]
    assert all(0 <= s <= 1 for s in table.column("score").to_pylist())
    err = capsys.readouterr().err
    for where in (
        ":2: non-string 'text'",
        ":3: malformed JSON",
        ":4: blank line",
        ":5: invalid UTF-8",
        ":8: missing 'text'",
    ):
        assert f"{good}{where}" in err
    report = json.loads(summary.read_text())
    assert report["lines_read"] == 10 and report["scored"] == 5 and sum(report["rejected"].values()) == 5
    assert len(report["rejected_lines"]) == 5


def test_score_with_the_default_classifier(tmp_path):
    data = tmp_path / "docs.jsonl"
    data.write_text(json.dumps({"id": "x", "text": "<a><b>1</b></a>\n" * 20}) + "\n")
    assert cli.main(["classifier", "score", str(data), "--out", str(tmp_path / "s.parquet")]) == 0
    assert pq.read_table(tmp_path / "s.parquet").num_rows == 1


def test_report_prints_tables_and_saves_png(trained, tmp_path, capsys):
    folder = trained[0].save(tmp_path / "clf")
    texts, _, domains = planted(12, seed=6)
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"text": t, "domain": d}) + "\n" for t, d in zip(texts, domains)))
    png = tmp_path / "report.png"
    assert cli.main(["classifier", "report", "--classifier", str(folder), "--data", str(data), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    err = capsys.readouterr().err
    assert "catalyst rate" in err and "prose" in err and "features most correlated" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "{missing}", "--out", "{tmp}/o.parquet"], "{missing}: no such file"),
        (
            ["score", "{data}", "--out", "{tmp}/o.parquet", "--classifier", "{tmp}"],
            "{tmp}/model.skops: no such classifier file",
        ),
        (["train", "--data", "{data}", "--scores", "{missing}", "--out", "{tmp}/c"], "{missing}: no such file"),
        (
            ["train", "--data", "{data}", "--proxy-domains", "latex", "--max-chars", "0", "--out", "{tmp}/c"],
            "--max-chars: must be in 1..1000000 (got 0)",
        ),
        (
            ["train", "--data", "{data}", "--proxy-domains", "latex", "--validation", "1.5", "--out", "{tmp}/c"],
            "--validation: must be in (0, 1) (got 1.5)",
        ),
    ],
)
def test_user_errors_are_one_line(tmp_path, capsys, args, message):
    data = tmp_path / "docs.jsonl"
    data.write_text('{"text": "x"}\n')
    fill = {"missing": tmp_path / "missing.jsonl", "tmp": tmp_path, "data": data}
    assert cli.main(["classifier", *[a.format(**fill) for a in args]]) == 2
    assert capsys.readouterr().err.strip() == f"mda-curate classifier: error: {message.format(**fill)}"
