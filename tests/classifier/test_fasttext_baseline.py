"""The fastText baseline and the docs/s timer the benchmarks compare the classifier with."""

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from mda_curate.data.documents import Document
from mda_curate.influence.window import window_samples

from .conftest import planted

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("fasttext")


def test_fasttext_learns_planted_labels_and_the_timer_counts_documents():
    from mda_curate.classifier.fasttext_baseline import FastText, docs_per_second

    texts, labels, domains = planted(80, seed=1)
    docs = [Document(str(i), t, d) for i, (t, d) in enumerate(zip(texts, domains))]
    model = FastText(docs[:60], labels[:60], seed=0)
    assert roc_auc_score(labels[60:], model.score(texts[60:])) > 0.9

    class Counter:
        seen = 0

        def score(self, batch):
            Counter.seen += len(batch)

    rates = docs_per_second({"counter": Counter()}, texts, repeats=3)
    assert Counter.seen == 3 * len(texts) and rates["counter"] > 0


def test_cross_seed_benchmark_on_planted_influence(small_run, tmp_path, monkeypatch, capsys):
    """Label window steps 0-9, check window steps 10-19 of one run, influence planted on the LaTeX samples."""
    run = small_run[0]
    files = []
    for name, steps in (("label", (0, 10)), ("check", (10, 20))):
        samples = window_samples(run, steps)
        scores = [float(s.domain == "latex") + s.sample_index / 1e4 for s in samples]
        table = pa.table({"sample_index": [s.sample_index for s in samples], "score": scores})
        pq.write_table(table, tmp_path / f"{name}.parquet")
        files.append(str(tmp_path / f"{name}.parquet"))
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks" / "natural_catalysts"))
    import cross_seed

    out = tmp_path / "cross_seed.json"
    argv = [
        "cross_seed.py",
        "--label",
        str(run),
        files[0],
        "--check",
        str(run),
        files[1],
        "--fraction",
        "0.3",
        "--repeats",
        "1",
        "--bootstrap",
        "200",
        "--out",
        str(out),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    cross_seed.main()
    result = json.loads(out.read_text())
    assert result["data"] == {
        "label_samples": 48,
        "check_samples": 48,
        "check_positives": 24,
        "check_unseen_documents": result["heldout_auroc"]["unseen_documents"]["n"],
    }
    auroc = result["heldout_auroc"]["all"]
    assert auroc["ours"]["auroc"] > 0.95 and 0 <= auroc["fasttext"]["auroc"] <= 1
    for name in ("ours", "fasttext", "ours_minus_fasttext"):
        low, high = auroc[name]["interval"]
        assert low <= auroc[name]["auroc"] <= high and low < high, name
    assert auroc["ours_minus_fasttext"]["auroc"] == auroc["ours"]["auroc"] - auroc["fasttext"]["auroc"]
    assert set(result["throughput"]["docs_per_s"]) == {"ours", "fasttext"}
    corpus = result["heldout_corpus"]
    assert corpus["documents"] == 192
    assert sorted(corpus["domains_by_mean_score"]) == ["code", "latex", "markup", "prose", "records"]
    assert -1 <= corpus["spearman_with_proxy"] <= 1
    assert "heldout_auroc" in capsys.readouterr().out
