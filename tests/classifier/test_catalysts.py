"""``mda-curate catalysts report``: influence by domain, source and feature, against planted scores."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import t

from mda_curate import cli
from mda_curate.classifier.catalysts import REPORT_FEATURES, _escape, catalyst_report
from mda_curate.classifier.features import extract_features, feature_names
from mda_curate.influence.window import scored_window, window_samples

STEPS = (0, 10)  # the whole small run: 80 samples


def write_scores(path, samples, scores):
    table = pa.table({"sample_index": [s.sample_index for s in samples], "score": list(map(float, scores))})
    pq.write_table(table, path)
    return path


@pytest.fixture(scope="module")
def samples(small_run):
    return window_samples(small_run[0], STEPS)


def test_a_score_planted_on_the_latex_domain_tops_both_tables(small_run, samples, tmp_path):
    latex = np.array([s.domain == "latex" for s in samples])
    scores = latex + np.arange(len(samples)) / 1e4  # every LaTeX sample above every prose one
    window = scored_window(small_run[0], write_scores(tmp_path / "s.parquet", samples, scores))
    report = catalyst_report(window, "planted", top_fraction=0.1, examples=3)
    n, n_latex = len(samples), int(latex.sum())
    first = report["by_domain"][0]
    assert first["group"] == "latex" and first["n"] == n_latex and report["by_source"][0]["group"] == "texpkg"
    assert first["top_share"] == 1.0 and first["lift"] == pytest.approx(n / n_latex)
    assert first["mean_percentile"] == pytest.approx(1 - n_latex / (2 * n))  # ranks n - n_latex + 1 .. n
    percentiles = (np.arange(n - n_latex, n) + 0.5) / n
    low, high = t.interval(0.95, n_latex - 1, loc=percentiles.mean(), scale=percentiles.std(ddof=1) / np.sqrt(n_latex))
    assert (first["ci_low"], first["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert [e["domain"] for e in report["top"]] == ["latex"] * 3
    assert [e["domain"] for e in report["bottom"]] == ["prose"] * 3
    assert report["top"][0]["sample_index"] == max(s.sample_index for s in samples if s.domain == "latex")
    model = report["feature_model"]
    assert model["train"] + model["test"] == n and model["r2"]["domain_only_ridge"] > 0.6  # 0.75 in expectation


def test_a_score_equal_to_a_feature_has_spearman_one(small_run, samples, tmp_path):
    features = extract_features([s.text for s in samples], REPORT_FEATURES)
    column = max(range(features.shape[1]), key=lambda j: len(np.unique(features[:, j])))
    name = feature_names(REPORT_FEATURES)[column]
    window = scored_window(small_run[0], write_scores(tmp_path / "s.parquet", samples, features[:, column]))
    report = catalyst_report(window, "feature")
    by_name = {f["feature"]: f["spearman"] for f in report["features"]}
    assert by_name[name] == pytest.approx(1.0) and abs(report["features"][0]["spearman"]) == pytest.approx(1.0)
    assert {f["feature"] for f in report["features"]} == set(feature_names(REPORT_FEATURES))
    assert report["feature_model"]["r2"]["ridge"] > 0.9  # the percentile is that feature's quantile


def test_cli_writes_markdown_json_and_a_png_per_file_with_their_agreement(small_run, samples, tmp_path, capsys):
    scores = np.array([s.domain == "latex" for s in samples]) + np.arange(len(samples)) / 1e4
    start = write_scores(tmp_path / "start.parquet", samples, scores)
    late = write_scores(tmp_path / "late.parquet", samples, -scores)
    out = tmp_path / "report"
    args = ["catalysts", "report", "--run", str(small_run[0]), "--scores", str(start), str(late), "--examples", "2"]
    assert cli.main([*args, "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in data["reports"]] == ["start", "late"]
    assert all(r["seconds"] >= 0 for r in data["reports"])
    assert data["agreement"] == [{"a": "start", "b": "late", "shared_samples": 80, "spearman": pytest.approx(-1.0)}]
    assert data["reports"][1]["by_domain"][0]["group"] == "prose"
    assert data["command"].startswith("mda-curate catalysts report")
    for name in ("start", "late"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "report.md").read_text()
    assert "## start" in markdown and "## late" in markdown and "(n=" in markdown and "## Agreement" in markdown
    assert "by domain" in capsys.readouterr().err


def test_cli_names_must_match_the_scores(small_run, samples, tmp_path, capsys):
    scores = write_scores(tmp_path / "s.parquet", samples, np.arange(len(samples)))
    args = ["catalysts", "report", "--run", str(small_run[0]), "--scores", str(scores), "--names", "a", "b"]
    assert cli.main([*args, "--out", str(tmp_path / "r")]) == 2
    assert "--names: give 1 distinct names" in capsys.readouterr().err


def test_markdown_cells_escape_tables_code_and_line_breaks():
    assert _escape("a|b\n`c` <x> & *y*") == "a\\|b ⏎ \\`c\\` \\<x\\> &amp; \\*y\\*"
