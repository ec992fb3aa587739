import json

import pytest

from mda_curate.cli import main

from .conftest import documents


def test_train_command_tokenizes_jsonl_trains_and_resumes(tmp_path, tokenizer, capsys):
    data = tmp_path / "docs.jsonl"
    data.write_text(
        "".join(json.dumps({"id": d.doc_id, "text": d.text, "domain": d.domain}) + "\n" for d in documents())
    )
    tokenizer.save_pretrained(tmp_path / "tok")
    args = [
        "train",
        "--data",
        str(data),
        "--tokenizer",
        str(tmp_path / "tok"),
        "--out",
        str(tmp_path / "run"),
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--context-length",
        "16",
        "--warmup-steps",
        "1",
        "--threads",
        "1",
        "--mix",
        "prose=1,code=1",
        "--catalyst-share",
        "0.5",
        "--log-every",
        "1",
    ]
    assert main(args) == 0
    assert "samples: repeated_spans" in capsys.readouterr().err
    assert (tmp_path / "run" / "tokenized" / "meta.json").is_file() and (tmp_path / "run" / "step_3").is_dir()
    sources = json.loads((tmp_path / "run" / "sources.json").read_text())["sources"]
    assert {s["name"]: s["samples"] for s in sources} == {"code": 3, "markup": 0, "prose": 3, "repeated_spans": 6}
    assert main(args + ["--resume"]) == 0  # already at its last step: nothing to do
    assert main(args[:-2] + ["--log-every", "2", "--resume"]) == 0  # runtime settings may change
    assert main(args + ["--lr", "0.5", "--resume"]) == 2
    assert "resuming needs the run's own settings; changed lr" in capsys.readouterr().err


def test_bad_mix_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--tokenizer", "t", "--out", str(tmp_path), "--mix", "prose"])
    assert "'prose' is not DOMAIN=WEIGHT" in capsys.readouterr().err


def test_recipe_flag_sets_the_recipe_and_explicit_flags_override_it():
    from mda_curate.cli import build_parser
    from mda_curate.commands.train import train_config
    from mda_curate.training.config import RECIPES

    parser = build_parser()
    args = parser.parse_args(["train", "--tokenizer", "t", "--out", "o", "--recipe", "cpu-formation", "--steps", "5"])
    config = train_config(args)
    assert config.steps == 5
    assert config.catalyst_share == RECIPES["cpu-formation"].catalyst_share == 0.6
    assert config.mix == {"prose": 15, "code": 10, "latex": 7.5, "markup": 7.5}
    plain = train_config(parser.parse_args(["train", "--tokenizer", "t", "--out", "o"]))
    assert plain.catalyst_share == 0.0 and plain.steps == 1000
