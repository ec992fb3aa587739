"""The docs' results tables and the committed validation summaries are what ``make results`` generates from
the committed result files (``benchmarks/make_results.py``)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def make_results():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "benchmarks" / "make_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_generated_file_and_docs_table_equals_the_committed_one(make_results):
    stale = [
        str(path.relative_to(ROOT))
        for stage in (make_results.generated, make_results.documents)
        for path, text in stage().items()
        if path.read_text() != text
    ]
    assert not stale, f"run `make results`: {stale}"


def test_the_docs_hold_results_blocks_and_every_block_names_a_table(make_results):
    names = [m.group(2) for doc in make_results.DOCS for m in make_results.BLOCK.finditer((ROOT / doc).read_text())]
    assert "headline" in names and any(n.startswith("validation/") for n in names)
    for name in names:
        assert make_results.render(name).startswith("|") or name.startswith("comparisons/")


def test_a_committed_summary_recomputes_to_its_own_statistics(make_results):
    # The spread experiment's three seeds: targeted duplication forms earlier than random duplication on every
    # seed; the paired t-interval of the formation-step differences excludes 0 and the verdict says so.
    summary = json.loads((ROOT / "benchmarks/validation/cpu-wide-window-spread/summary.json").read_text())
    pair = next(c for c in summary["comparisons"] if c["arms"] == ["targeted_augmentation", "random_augmentation"])
    runs = {(r["arm"], r["seed"]): r["formation_step"] for r in summary["runs"]}
    per_seed = [runs[("targeted_augmentation", s)] - runs[("random_augmentation", s)] for s in (0, 1, 2)]
    assert pair["formation_step_difference"]["per_seed"] == pytest.approx(per_seed)
    assert pair["formation_step_difference"]["n"] == 3 and pair["first_forms"] == "earlier"
    assert summary["arms"]["targeted_augmentation"]["speedup_post_branch"]["n"] == 3
