import re
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from mda_curate.errors import UserError
from mda_curate.validation.spec import ARMS, load_spec, parse_arms, parse_spec, spec_toml

from .conftest import tiny_spec_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "validation"
REPO = EXAMPLES.parents[1]
CONTROLS = ("random_upsampling", "random_insertion", "generic_insertion")
PAPER_ARMS = tuple(arm for arm in ARMS if arm not in CONTROLS)  # the example specs' arms: no controls added later


def test_the_cpu_formation_example_spec_covers_both_formation_runs_and_every_arm():
    spec = load_spec(EXAMPLES / "cpu-formation.toml")
    assert spec.arms.run == PAPER_ARMS and spec.arms.k == 0.1 and spec.arms.checkpoint_every == 50
    assert spec.train.preset == "cpu-tiny" and spec.train.catalyst_share == 0.6 and spec.train.steps == 8000
    assert [(s.seed, s.run, s.unit, s.until) for s in spec.seeds] == [
        (0, REPO / "runs/formation/share0.6_seed0", "1.2", 8000),
        (1, REPO / "runs/formation/share0.6_seed1", "1.2", 8000),
    ]
    for seed in spec.seeds:
        start, end = seed.window
        assert start % 250 == 0 and end - start == 250  # branch at a base-run checkpoint (every 250 steps)
        assert spec.arms.count((end - start) * spec.train.batch_size) == 800  # 10% of the window
    assert spec.seeds[1].scores == REPO / "runs/influence/window_s1.parquet"
    assert spec.data == (REPO / "examples/data/train.parquet",) and spec.tokenizer == REPO / "examples/tokenizer"
    assert spec.influence.compute and spec.arm_config(spec.seeds[0]).checkpoint_every == 50


def test_the_wide_window_example_specs_branch_at_step_3000_with_a_30_percent_budget():
    from mda_curate.classifier import load_classifier
    from mda_curate.validation.arms import synthetic_rows_per_step, window_indices

    wide, synthetic = (
        load_spec(EXAMPLES / "cpu-wide-window.toml"),
        load_spec(EXAMPLES / "cpu-wide-window-synthetic.toml"),
    )
    spread = load_spec(EXAMPLES / "cpu-wide-window-spread.toml")
    assert (
        spread.arms.spread and not wide.arms.spread and spread.arms.classifier == REPO / "classifiers/catalyst-proxy"
    )
    assert [(s.run, s.unit, s.scores) for s in spread.seeds] == [(s.run, s.unit, s.scores) for s in wide.seeds]
    influence = load_spec(EXAMPLES / "cpu-wide-window-influence-classifier.toml")
    assert influence.arms == replace(spread.arms, classifier=None)
    assert [replace(s, classifier=None) for s in influence.seeds] == list(spread.seeds)
    # each seed is curated by a classifier trained on another seed's influence labels
    assert [s.classifier for s in influence.seeds] == [REPO / f"runs/classifier/wide_s{i}" for i in (1, 2, 0)]
    assert wide.arms.run == PAPER_ARMS
    assert synthetic.arms.run == ("baseline", "synthetic_augmentation", "random_insertion")
    assert [s.seed for s in wide.seeds + synthetic.seeds] == [0, 1, 2, 0, 1, 2]
    assert [s.scores for s in wide.seeds] == [REPO / f"runs/influence/wide_s{i}.parquet" for i in range(3)]
    assert [s.run for s in synthetic.seeds] == [s.run for s in wide.seeds]  # the synthetic arms reuse these branches
    assert synthetic.arms.synthetic == wide.arms.synthetic
    assert (
        [s.unit for s in wide.seeds] == [s.unit for s in synthetic.seeds] == ["1.2", "1.2", "1.3"]
    )  # seed 2's own head
    pinned = REPO / "examples/validation/classifier-100k"  # the classifier the committed results used
    assert wide.arms.classifier == load_spec(EXAMPLES / "cpu-formation.toml").arms.classifier == pinned
    assert load_classifier(pinned).settings.max_chars == 100_000  # loads: its card's sha256 matches the artifact
    for spec in (wide, synthetic, spread, influence):
        for seed in spec.seeds:
            assert (seed.window, seed.until) == ((3000, 5000), 8000)
            k = spec.arms.count(len(window_indices(seed, spec.train.batch_size)))
            assert k == 19_200 and spec.arms.copies == 2
            assert synthetic_rows_per_step(spec, seed, k) == 20  # k x copies spread over the 2,000 window steps


def test_the_displace_example_specs_are_the_spread_experiment_at_a_fixed_budget():
    spread, displace = (
        load_spec(EXAMPLES / "cpu-wide-window-spread.toml"),
        load_spec(EXAMPLES / "cpu-wide-window-displace.toml"),
    )
    assert displace.arms.displace and not spread.arms.displace and displace.arms.stop_after_formation == 100
    assert replace(displace.arms, displace=False, stop_after_formation=None, run=spread.arms.run) == replace(
        spread.arms, classifier=None
    )
    assert displace.seeds == spread.seeds and displace.train == spread.train
    one_copy = load_spec(EXAMPLES / "cpu-wide-window-displace-1copy.toml")  # reuses the displace baselines
    assert one_copy.arms.copies == 1 and replace(one_copy.arms, copies=2) == displace.arms
    assert (one_copy.seeds, one_copy.train, one_copy.metrics) == (displace.seeds, displace.train, displace.metrics)
    top10 = load_spec(EXAMPLES / "cpu-wide-window-displace-top10.toml")  # the same 19,200 repeat rows on 6,400 samples
    assert (top10.arms.k, top10.arms.copies) == (0.1, 3) and replace(top10.arms, k=0.3, copies=1) == one_copy.arms
    assert (top10.seeds, top10.train, top10.metrics) == (one_copy.seeds, one_copy.train, one_copy.metrics)


def test_the_small_share_example_spec_attributes_the_3_layer_unit_at_the_windows_end():
    spec = load_spec(EXAMPLES / "cpu-3l-small-share.toml")
    assert spec.train.preset == "cpu-tiny-3l" and spec.train.catalyst_share == 0.3 and spec.train.steps == 16000
    (seed,) = spec.seeds
    assert (seed.seed, seed.unit, seed.window, seed.until) == (1, "2.2", (11000, 14000), 16000)
    assert seed.attributed_step == 14000 and spec.arms.spread  # the unit forms at step 14,289
    assert spec.arms.count(3000 * spec.train.batch_size) == 9600 and spec.arms.copies == 2
    assert spec.arms.classifier == REPO / "runs/classifier/wide_s1"  # influence labels of another model and recipe


def test_the_pythia_14m_example_spec_trains_the_pythia_shape_on_cuda():
    spec = load_spec(EXAMPLES / "pythia-14m.toml")
    assert spec.train.preset == "pythia-14m" and spec.train.device == "cuda"
    assert spec.arms.run == PAPER_ARMS and len(spec.seeds) == 2
    assert all(s.window[1] <= s.until <= spec.train.steps for s in spec.seeds)


def test_a_spec_is_saved_as_json_with_plain_paths(tmp_path):
    data = tiny_spec_data(tmp_path, tmp_path / "runs")
    spec = parse_spec(tomllib.loads(spec_toml(data)), tmp_path / "spec.toml")
    saved = spec.to_dict()
    assert saved["seeds"][0]["run"] == str(tmp_path / "runs" / "base0") and saved["train"]["batch_size"] == 4
    assert spec.config(spec.seeds[1]).seed == 1 and spec.arms.count(16) == 4


BAD = [
    (("arms", "k"), 1.5, "arms.k a share of the window must be in (0, 1]"),
    (("arms", "k"), 0, "arms.k must be an integer >= 1"),
    (("arms", "run"), ["baseline", "everything"], "arms.run[1] unknown arm 'everything'"),
    (("arms", "colour"), "red", "arms.colour is not a known field"),
    (("arms", "spread"), "yes", "arms.spread must be true or false"),
    (("arms", "displace"), 1, "arms.displace must be true or false"),
    (("arms", "stop_after_formation"), -100, "arms.stop_after_formation must be an integer >= 0"),
    (("train", "lr"), -1.0, "train.lr must be > 0"),
    (("train", "seed"), 3, "train.seed is set per run in [[seeds]]"),
    (("train", "layers"), 3, "train.layers is not a TrainConfig field"),
    (("metrics", "confidence"), 2.0, "metrics.confidence must be a number in (0, 1)"),
    (("metrics", "probe_lengths"), [6, 4], "metrics.probe_lengths must be [min, max]"),
    (("influence", "args"), [3], "influence.args[0] must be a string"),
    (("seeds", 0, "window"), [8, 4], "seeds[0].window must be [start, end]"),
    (
        ("seeds", 1, "window"),
        [4, 20],
        "seeds[1].window must be [start, end] with 0 <= start < end <= train.steps (12)",
    ),
    (("seeds", 0, "until"), 6, "seeds[0].until must be an integer >= 8"),
    (("seeds", 0, "until"), 13, "seeds[0].until must be at most train.steps (12)"),
    (("seeds", 0, "unit"), "L1H2", "seeds[0].unit must be 'layer.head'"),
    (("seeds", 0, "influence_step"), 3, "seeds[0].influence_step must be an integer >= 4"),
    (("seeds", 0, "influence_step"), 13, "seeds[0].influence_step must be at most train.steps (12)"),
    (("seeds", 0, "classifier"), 3, "seeds[0].classifier must be a non-empty string"),
    (("seeds", 1, "seed"), 0, "seeds lists a seed twice"),
    (("recipe",), "gpu-fast", "recipe must be one of cpu-formation"),
]


@pytest.mark.parametrize("where, value, message", BAD, ids=[".".join(map(str, b[0])) for b in BAD])
def test_spec_errors_name_the_field(tmp_path, where, value, message):
    data = tiny_spec_data(tmp_path, tmp_path / "runs")
    target = data
    for key in where[:-1]:
        target = target[key] if isinstance(key, int) else target.setdefault(key, {})
    target[where[-1]] = value
    path = tmp_path / "spec.toml"
    path.write_text(spec_toml(data))
    with pytest.raises(UserError, match=f"^{path}: " + re.escape(message)):
        load_spec(path)


def test_missing_and_malformed_spec_files_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no such spec file"):
        load_spec(tmp_path / "absent.toml")
    (tmp_path / "bad.toml").write_text("name = [\n")
    with pytest.raises(UserError, match="bad.toml: malformed TOML"):
        load_spec(tmp_path / "bad.toml")
    (tmp_path / "empty.toml").write_text("name = 'x'\n")
    with pytest.raises(UserError, match="seeds must list at least one"):
        load_spec(tmp_path / "empty.toml")


def test_arm_lists_from_the_command_line_are_checked():
    assert parse_arms("baseline, random_removal") == ("baseline", "random_removal")
    with pytest.raises(UserError, match="--arms: unknown arm 'random'"):
        parse_arms("baseline,random")


def test_the_natural_specs_windows_follow_their_rule_from_the_committed_formation_steps():
    """Each seed's window is the 1,000 steps ending at the last 250-step checkpoint at least 250 steps before
    its committed run's formation step, scored at its end, on the head that formed."""
    import pyarrow.parquet as pq

    from mda_curate.units.formation import formation, summarize_steps

    removal, upsampling = (load_spec(EXAMPLES / f"natural-{name}.toml") for name in ("removal", "upsampling"))
    assert [(s.seed, s.window, s.unit) for s in removal.seeds] == [
        (s.seed, s.window, s.unit) for s in upsampling.seeds
    ]
    runs = REPO / "benchmarks/natural_formation/runs"
    for seed in removal.seeds:
        summaries = summarize_steps(
            pq.read_table(runs / f"3l-ctx256-b32-lr3e-3-s{seed.seed}/unit_scores.parquet").to_pylist()
        )
        formed = formation(summaries)
        end = int(formed.step - 250) // 250 * 250
        assert seed.window == (end - 1000, end) and seed.influence_step == end, seed.seed
        head = next(s.best_induction_head for s in summaries if s.step == formed.checkpoint)
        assert seed.unit == f"{head[0]}.{head[1]}", seed.seed
