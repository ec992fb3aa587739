"""Options declared once: flags built from settings dataclasses default to the fields' defaults, every help's
stated default is the flag's, and a bad value's error names the field in the library and the flag on the CLI."""

import argparse
import dataclasses
import inspect
import re

import pytest

from mda_curate.augment.generators import GenerationSettings
from mda_curate.augment.profile import MiningSettings
from mda_curate.classifier.features import FeatureSettings
from mda_curate.classifier.train import TrainSettings
from mda_curate.cli import build_parser, main
from mda_curate.errors import FieldError, UserError
from mda_curate.flags import add_setting, flag_of, shown
from mda_curate.influence.settings import InfluenceSettings, parse_damping
from mda_curate.training.config import TrainConfig


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def from_args(settings: type, args: argparse.Namespace, **parsed):
    """``settings`` built from the parsed flags of its fields (those the command has), ``parsed`` replacing some."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(settings) if hasattr(args, f.name)}
    return settings(**{**given, **parsed})


# ---- defaults: parse no optional arguments, compare with the dataclass ---------------------------------------


def test_train_flags_left_out_give_the_train_config_defaults():
    from mda_curate.commands.train import train_config

    args = parse("train", "--tokenizer", "t", "--out", "o")
    assert train_config(args) == TrainConfig()
    config_flags = [f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)]
    assert len(config_flags) == 18 and "betas" not in config_flags  # every field but betas is a flag


def test_influence_flags_default_to_influence_settings():
    args = parse("influence", "--model", "m", "--train", "t")
    assert from_args(InfluenceSettings, args, damping=parse_damping(args.damping)) == InfluenceSettings()


def test_augment_flags_default_to_generation_and_mining_settings():
    generate = parse("augment", "generate", "--profile", "p", "--tokens", "7", "--out", "o")
    assert from_args(GenerationSettings, generate) == GenerationSettings(tokens=7)
    control = parse("augment", "control", "--synthetic", "s", "--corpus", "c", "--out", "o")
    assert control.chars_per_token == GenerationSettings(tokens=0).chars_per_token
    mine = parse("augment", "mine", "--scores", "s", "--out", "o")
    assert from_args(MiningSettings, mine) == MiningSettings()


def test_classifier_train_flags_default_to_the_classifier_settings():
    args = parse("classifier", "train", "--data", "d", "--scores", "s", "--out", "o")
    assert args.validation_fraction == TrainSettings().validation_fraction
    assert from_args(FeatureSettings, args) == FeatureSettings()


def test_units_flags_default_to_probe_settings():
    from mda_curate.units.sequences import ProbeSettings

    args = parse("units", "m")
    assert from_args(ProbeSettings, args, band=tuple(args.band)) == ProbeSettings()


def test_curate_threshold_is_the_upsample_recipe_default(tmp_path):
    from mda_curate.commands.curate import THRESHOLD, _plan
    from mda_curate.pipelines.recipes import Inputs, Layout, upsample_plan

    assert inspect.signature(upsample_plan).parameters["threshold"].default == THRESHOLD
    (tmp_path / "x.jsonl").write_text('{"id": "a", "text": "b"}\n')
    args = parse("curate", "upsample", str(tmp_path / "x.jsonl"), "--output", "o", "--factor", "2")
    plan = _plan(args, Inputs.find(args.inputs), Layout(str(tmp_path / "o")))
    assert plan.settings["threshold"] == THRESHOLD and plan.settings["bands"] == [(THRESHOLD, 2.0)]


def leaf_parsers(parser: argparse.ArgumentParser, path=()):
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield " ".join(path), parser
    for action in subparsers:
        for name, child in action.choices.items():
            yield from leaf_parsers(child, (*path, name))


def stated_defaults():
    """``(command, flag, default, the default its help states)`` for every help that states a value."""
    for command, parser in leaf_parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.help in (None, argparse.SUPPRESS) or action.default is None:
                continue
            stated = re.search(r"\(default ([^)]*)\)|^default (.*)$", formatter._expand_help(action))
            if stated:
                yield command, action.option_strings[-1], action.default, stated.group(1) or stated.group(2)


def test_every_stated_default_is_the_flags_default():
    checked = list(stated_defaults())
    assert len(checked) > 40
    for command, flag, default, stated in checked:
        expected = "-".join(map(str, default)) if flag == "--seq-len" else shown(default)
        assert stated == expected, f"{command} {flag}: help says {stated}, the default is {default!r}"


def test_a_setting_flag_shows_the_field_default_and_takes_its_type():
    parser = argparse.ArgumentParser()
    action = add_setting(parser, TrainConfig, "lr", metavar="LR")
    assert (action.option_strings, action.dest, action.type, action.default) == (["--lr"], "lr", float, 1e-3)
    assert action.help == "peak learning rate (default 0.001)"
    assert parser.parse_args(["--lr", "0.5"]).lr == 0.5
    renamed = add_setting(parser, InfluenceSettings, "factor_max_samples", "--factor-samples")
    assert (renamed.dest, renamed.type, renamed.default) == ("factor_max_samples", int, None)
    assert add_setting(parser, GenerationSettings, "tokens").required
    with pytest.raises(TypeError, match="needs a type="):
        add_setting(parser, TrainConfig, "mix")


# ---- errors: the field in the library, the flag on the command line -----------------------------------------


@pytest.mark.parametrize(
    "settings, values, field",
    [
        (TrainConfig, {"lr": -1.0}, "lr"),
        (InfluenceSettings, {"factor_max_samples": 0}, "factor_max_samples"),
        (InfluenceSettings, {"strategy": "newton"}, "strategy"),
        (GenerationSettings, {"tokens": 5, "doc_tokens": 1}, "doc_tokens"),
        (FeatureSettings, {"max_chars": 0}, "max_chars"),
        (TrainSettings, {"validation_fraction": 1.0}, "validation_fraction"),
        (TrainSettings, {"candidates": ("svm",)}, "candidates"),
    ],
)
def test_a_bad_setting_names_the_field(settings, values, field):
    with pytest.raises(FieldError) as error:
        settings(**values)
    assert error.value.field == field
    assert re.fullmatch(rf"{field}: must be .+ \(got .+\)", str(error.value))
    assert "--" not in str(error.value)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--lr", "-1"], "--lr: must be > 0 (got -1.0)"),
        (["train", "--batch-size", "0"], "--batch-size: must be a positive integer (got 0)"),
        (["train", "--catalyst-share", "2"], "--catalyst-share: must be in [0, 1] (got 2.0)"),
    ],
)
def test_a_bad_flag_value_names_the_flag(tmp_path, capsys, argv, message):
    assert main([*argv, "--tokenizer", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"mda-curate {argv[0]}: error: {message}"


def test_a_library_parameter_error_names_the_flag(tmp_path, capsys):
    data = tmp_path / "docs.jsonl"
    data.write_text('{"text": "a b c"}\n')
    assert main(["tokenizer", "train", str(data), "--out", str(tmp_path / "t"), "--vocab-size", "100"]) == 2
    message = "--vocab-size: must be at least 258 (256 bytes + 2 special tokens) (got 100)"
    assert capsys.readouterr().err.strip() == f"mda-curate tokenizer: error: {message}"


def test_a_field_without_a_flag_keeps_its_name():
    parser = build_parser()
    args = parser.parse_args(["train", "--tokenizer", "t", "--out", "o"])
    assert flag_of(parser, args, "batch_size") == "--batch-size"
    assert flag_of(parser, args, "betas") is None
    args = parser.parse_args(["influence", "--model", "m", "--train", "t"])
    assert flag_of(parser, args, "factor_max_samples") == "--factor-samples"
    assert flag_of(parser, args, "factor_steps") == "--factor-steps"
    assert isinstance(FieldError("betas", "must be two numbers"), UserError)
