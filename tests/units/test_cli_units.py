"""``mda-curate units``: the JSON contract, checkpoint trajectories and one-line user errors."""

import json

import pyarrow.parquet as pq
import pytest

from mda_curate import cli

FAST = ["--sequences", "4", "--seq-len", "8-12", "--no-icl"]


@pytest.fixture
def saved_model(neox, tmp_path):
    folder = tmp_path / "tiny-neox"
    neox.random_model().save_pretrained(folder)
    neox.make_tokenizer().save_pretrained(folder)
    return folder


def test_units_writes_the_json_contract(saved_model, tmp_path, neox):
    text = " ".join(f"w{i % 60 + 2:02d}" for i in range(400))
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(json.dumps({"text": text}) + "\n")
    out = tmp_path / "scores.json"
    args = [str(saved_model), "--json", str(out), "--sequences", "4", "--seq-len", "8-12"]
    args += ["--icl-data", str(heldout), "--icl-ctx", "64", "--band-data", str(heldout)]
    assert cli.main(["units", *args]) == 0
    report = json.loads(out.read_text())
    assert report["model"] == str(saved_model) and report["revision"] is None
    assert [(h["layer"], h["head"]) for h in report["heads"]] == [
        (layer, head) for layer in range(2) for head in range(4)
    ]
    for head in report["heads"]:
        assert set(head) == {"layer", "head", "induction", "previous_token", "duplicate_token"}
        assert all(0.0 <= head[m] <= 1.0 for m in ("induction", "previous_token", "duplicate_token"))
    assert set(report["induction_loss"]) == {"first", "second"}
    assert isinstance(report["icl_score"], float)
    assert report["icl"] == {"ctx": 64, "late": 62, "early": [0, 6], "contexts": 6}
    assert report["probe"]["lengths"] == [8, 12] and report["probe"]["n_sequences"] == 4
    assert report["probe"]["token_band"] == {"source": "token counts", "size": 48}


def test_units_without_heldout_text_reports_null_icl(saved_model, tmp_path):
    out = tmp_path / "scores.json"
    assert cli.main(["units", str(saved_model), "--json", str(out), *FAST]) == 0
    report = json.loads(out.read_text())
    assert report["icl_score"] is None and "--no-icl" in report["icl"]["note"]


def test_units_scores_every_checkpoint(neox, tmp_path):
    run = tmp_path / "run"
    for seed, name in enumerate(["step_20", "checkpoint-5", "step_100"]):
        neox.random_model(seed=seed).save_pretrained(run / name)
    (run / "step_7").mkdir()  # no model inside: ignored
    neox.make_tokenizer().save_pretrained(run)
    assert cli.main(["units", "--checkpoints", str(run), "--out", str(tmp_path / "traj"), *FAST]) == 0
    rows = pq.read_table(tmp_path / "traj.parquet").to_pylist()
    assert sorted({r["step"] for r in rows}) == [5, 20, 100]
    assert len(rows) == 3 * 2 * 4
    assert set(rows[0]) == {
        "step",
        "layer",
        "head",
        "induction",
        "previous_token",
        "duplicate_token",
        "induction_loss_first",
        "induction_loss_second",
        "icl_score",
    }
    assert (tmp_path / "traj.png").read_bytes()[:4] == b"\x89PNG"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_folder_without_model_is_a_user_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["units", str(tmp_path / "empty"), *FAST]) == 2
    assert "no model here" in _error_line(capsys)


def test_model_folder_without_tokenizer_is_a_user_error(neox, tmp_path, capsys):
    neox.random_model().save_pretrained(tmp_path / "no-tokenizer")
    capsys.readouterr()
    assert cli.main(["units", str(tmp_path / "no-tokenizer"), *FAST]) == 2
    assert "no tokenizer here" in _error_line(capsys)


def test_non_gpt_neox_model_is_a_user_error(tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=64, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2")
    capsys.readouterr()
    assert cli.main(["units", str(tmp_path / "gpt2"), *FAST]) == 2
    assert "'gpt2' model; only GPT-NeoX" in _error_line(capsys)


def test_missing_hub_revision_offline_is_a_user_error(monkeypatch, capsys):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import, so patch it
    assert cli.main(["units", "EleutherAI/pythia-14m", "--revision", "step1", *FAST]) == 2
    line = _error_line(capsys)
    assert line.startswith("mda-curate units: error: EleutherAI/pythia-14m at revision 'step1': no such local folder")


def test_checkpoint_folder_without_checkpoints_is_a_user_error(tmp_path, capsys):
    assert cli.main(["units", "--checkpoints", str(tmp_path), *FAST]) == 2
    assert "no step_<N> or checkpoint-<N> subfolders" in _error_line(capsys)


@pytest.mark.parametrize(
    "args",
    [[], ["MODEL", "--checkpoints", "DIR"], ["MODEL", "--out", "x"], ["--checkpoints", "DIR", "--json", "x"]],
)
def test_conflicting_modes_are_user_errors(args, capsys):
    assert cli.main(["units", *args]) == 2
    _error_line(capsys)
