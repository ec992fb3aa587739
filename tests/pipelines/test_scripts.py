"""The runnable definitions in pipelines/: importable (``build``) and runnable as scripts."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mda_curate.pipelines import recipes
from mda_curate.pipelines.recipes import Inputs, Layout

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["score", "filter", "upsample", "mix"])
def test_each_script_builds_its_pipeline(name, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    assert importlib.import_module(f"pipelines.{name}").build is getattr(recipes, f"{name}_plan")


def test_filter_plan_is_the_documented_datatrove_pipeline(corpus, tmp_path):
    plan = recipes.filter_plan(Inputs.find([str(corpus.folder)]), Layout(str(tmp_path)), threshold=0.5)
    assert [type(step).__name__ for step in plan.passes[0].pipeline] == [
        "AccountedReader",
        "CatalystScorer",
        "CatalystFilter",
        "JsonlWriter",
    ]


def test_mix_script_runs(corpus, tmp_path):
    out = tmp_path / "out"
    args = [
        str(corpus.shards[0]),
        str(corpus.shards[1]),
        "--weights",
        "1",
        "1",
        "--output",
        str(out),
        "--workers",
        "1",
    ]
    done = subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "mix.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pipeline"] == "mix" and stats["kept"] + stats["dropped"] + stats["rejected"] == stats["lines_read"]
