import json

import pytest
import torch

from mda_curate.errors import UserError
from mda_curate.training.schedule import Schedule
from mda_curate.training.trainer import STATE_FILE, Trainer, weighted_loss

from .conftest import tiny_config


def parameters(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_resume_gives_bitwise_the_uninterrupted_weights(tmp_path, tokenizer, corpus_dir):
    config = tiny_config(steps=7)
    straight = Trainer(config, tmp_path / "straight", tokenizer, [corpus_dir])
    straight.train(show_progress=False)

    killed = Trainer(config, tmp_path / "killed", tokenizer, [corpus_dir])
    real_step = killed.train_step

    def crash_at_step_5(step, batch):
        if step == 5:
            raise KeyboardInterrupt  # steps 0-4 ran, the last checkpoint is step_4: step 4 is redone
        return real_step(step, batch)

    killed.train_step = crash_at_step_5
    with pytest.raises(KeyboardInterrupt):
        killed.train(show_progress=False)
    assert sorted(p.name for p in (tmp_path / "killed").glob("step_*")) == ["step_0", "step_1", "step_2", "step_4"]

    resumed = Trainer(config, tmp_path / "killed", tokenizer, [corpus_dir], resume=True)
    assert resumed.step == 4
    resumed.train(show_progress=False)
    assert_bitwise_equal(parameters(resumed.model), parameters(straight.model))
    assert_bitwise_equal(resumed.optimizer.state_dict()["state"][0], straight.optimizer.state_dict()["state"][0])
    log = [json.loads(line)["step"] for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()]
    assert log == list(range(7))  # lines of the redone steps were dropped on resume


def test_an_arm_branching_from_a_checkpoint_continues_the_baseline(tmp_path, tokenizer, corpus_dir):
    config = tiny_config()
    base = Trainer(config, tmp_path / "base", tokenizer, [corpus_dir])
    base.train(show_progress=False)
    arm = Trainer(config, tmp_path / "arm", tokenizer, [corpus_dir], init_from=tmp_path / "base" / "step_2")
    assert arm.step == 2
    arm.train(show_progress=False)
    assert_bitwise_equal(parameters(arm.model), parameters(base.model))
    early = Schedule.from_dict({"mask": [3]}, 6, 4)  # sample 3 is in step 0, before the branch
    with pytest.raises(UserError, match="changes step 0, before step 2"):
        Trainer(config, tmp_path / "arm1", tokenizer, [corpus_dir], early, init_from=tmp_path / "base" / "step_2")
    other_seed = tiny_config(seed=5)
    with pytest.raises(UserError, match="data order differs"):
        Trainer(other_seed, tmp_path / "arm2", tokenizer, [corpus_dir], init_from=tmp_path / "base" / "step_2")


def test_checkpoints_load_with_from_pretrained_and_weights_only(tmp_path, tokenizer, corpus_dir):
    from transformers import AutoTokenizer, GPTNeoXForCausalLM

    trainer = Trainer(tiny_config(steps=2), tmp_path / "run", tokenizer, [corpus_dir])
    trainer.train(show_progress=False)
    checkpoint = tmp_path / "run" / "step_2"
    model = GPTNeoXForCausalLM.from_pretrained(checkpoint)
    assert_bitwise_equal(parameters(model), parameters(trainer.model))
    assert AutoTokenizer.from_pretrained(checkpoint)("alpha beta")["input_ids"] == tokenizer("alpha beta")["input_ids"]
    state = torch.load(checkpoint / STATE_FILE, weights_only=True)
    assert state["step"] == 2 and isinstance(state["rng_cpu"], torch.Tensor)
    run_args = json.loads((tmp_path / "run" / "config.json").read_text())
    assert run_args["train"]["steps"] == 2 and run_args["data"] == [str(corpus_dir.resolve())]
    for name in ("order.npy", "sources.json", "streams.npz", "log.jsonl"):
        assert (tmp_path / "run" / name).is_file()


def test_training_is_deterministic_and_lowers_the_loss(tmp_path, tokenizer, corpus_dir):
    config = tiny_config(steps=30, lr=3e-3, log_every=5)
    runs = [Trainer(config, tmp_path / f"run{i}", tokenizer, [corpus_dir]) for i in range(2)]
    for run in runs:
        run.train(show_progress=False)
    assert_bitwise_equal(parameters(runs[0].model), parameters(runs[1].model))
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run0" / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 6 and losses[-1] < losses[0] - 1.0


def test_run_folder_misuse_is_a_user_error(tmp_path, tokenizer, corpus_dir):
    Trainer(tiny_config(steps=1), tmp_path / "run", tokenizer, [corpus_dir]).train(show_progress=False)
    with pytest.raises(UserError, match="already holds a run"):
        Trainer(tiny_config(steps=1), tmp_path / "run", tokenizer, [corpus_dir])
    with pytest.raises(UserError, match=r"changed lr: 0.001 -> 0.002"):
        Trainer(tiny_config(steps=1, lr=2e-3), tmp_path / "run", tokenizer, [corpus_dir], resume=True)
    with pytest.raises(UserError, match="nothing to resume"):
        Trainer(tiny_config(), tmp_path / "new", tokenizer, [corpus_dir], resume=True)
    schedule = Schedule.from_dict({"mask": [0]}, 1, 4)
    with pytest.raises(UserError, match="changed schedule"):
        Trainer(tiny_config(steps=1), tmp_path / "run", tokenizer, [corpus_dir], schedule, resume=True)


def test_a_run_resumes_on_the_same_data_in_another_folder_but_not_on_changed_data(tmp_path, tokenizer, corpus_dir):
    import shutil

    Trainer(tiny_config(steps=4), tmp_path / "run", tokenizer, [corpus_dir]).train(show_progress=False, until=2)
    moved = shutil.copytree(corpus_dir, tmp_path / "moved")  # a checkout cloned to another folder
    resumed = Trainer(tiny_config(steps=4), tmp_path / "run", tokenizer, [moved], resume=True)
    assert resumed.step == 2
    edited = next(path for path in sorted(moved.rglob("*")) if path.is_file())
    edited.write_bytes(edited.read_bytes() + b"\n")
    with pytest.raises(UserError, match="changed content of data"):
        Trainer(tiny_config(steps=4), tmp_path / "run", tokenizer, [moved], resume=True)


def test_weights_only_checkpoint_starts_a_fresh_optimizer_at_step_0(tmp_path, tokenizer, corpus_dir):
    base = Trainer(tiny_config(steps=2), tmp_path / "base", tokenizer, [corpus_dir])
    base.train(show_progress=False)
    base.model.save_pretrained(tmp_path / "published")  # like a hub checkpoint: no trainer_state.pt
    arm = Trainer(tiny_config(steps=2), tmp_path / "arm", tokenizer, [corpus_dir], init_from=tmp_path / "published")
    assert arm.step == 0 and not arm.optimizer.state
    assert_bitwise_equal(parameters(arm.model), parameters(base.model))
    with pytest.raises(UserError, match="hidden_size is 128, the pythia-70m preset has 512"):
        Trainer(
            tiny_config(steps=2, preset="pythia-70m", vocab_size=300),
            tmp_path / "arm2",
            tokenizer,
            [corpus_dir],
            init_from=tmp_path / "published",
        )


def test_tokenizer_and_vocabulary_mismatches_are_user_errors(tmp_path, tokenizer, corpus_dir):
    from mda_curate.data.tokenizer import train_tokenizer

    other = train_tokenizer(["some other text entirely"] * 5, 270, tmp_path / "other")
    with pytest.raises(UserError, match="tokenized with another tokenizer"):
        Trainer(tiny_config(), tmp_path / "a", other, [corpus_dir])
    with pytest.raises(UserError, match="vocab_size 100 is below the tokenizer's 300 tokens"):
        Trainer(tiny_config(vocab_size=100), tmp_path / "b", tokenizer, [corpus_dir])
    assert not (tmp_path / "b" / "config.json").exists()  # a failed set-up leaves no half-made run


def test_bfloat16_autocast_trains(tmp_path, tokenizer, corpus_dir):
    trainer = Trainer(tiny_config(steps=2, dtype="bfloat16"), tmp_path / "run", tokenizer, [corpus_dir])
    summary = trainer.train(show_progress=False)
    assert summary["steps"] == 2 and 0 < summary["final_loss"] < 10
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # float32 master weights


def test_the_real_pythia_14m_shape_trains_with_the_same_code(tmp_path, tokenizer, corpus_dir):
    """The Pythia-14m preset (6 layers, d=128, rotary 0.25, parallel residual, vocab 50304) runs unchanged;
    only the context is shortened for CPU. Two steps must lower the loss on the batch they saw."""
    config = tiny_config(preset="pythia-14m", steps=2, lr=1e-2, warmup_steps=0)
    trainer = Trainer(config, tmp_path / "p14m", tokenizer, [corpus_dir])
    assert trainer.model.config.vocab_size == 50304 and trainer.model.config.num_hidden_layers == 6
    batch = trainer.batch(0)
    tokens, weights = torch.from_numpy(batch.tokens), torch.from_numpy(batch.weights)
    with torch.no_grad():
        before = weighted_loss(trainer.model, tokens, weights, tokens.numel())[1]
    trainer.train(show_progress=False)
    with torch.no_grad():
        after = weighted_loss(trainer.model, tokens, weights, tokens.numel())[1]
    assert after < before
    assert (tmp_path / "p14m" / "step_2" / "config.json").is_file()


def test_until_stops_with_a_checkpoint_and_resumes_to_the_same_weights(tmp_path, tokenizer, corpus_dir):
    config = tiny_config(steps=7)
    straight = Trainer(config, tmp_path / "straight", tokenizer, [corpus_dir])
    straight.train(show_progress=False)
    stopped = Trainer(config, tmp_path / "stopped", tokenizer, [corpus_dir])
    stopped.train(show_progress=False, until=3)
    assert stopped.step == 3 and (tmp_path / "stopped" / "step_3" / STATE_FILE).is_file()
    resumed = Trainer(config, tmp_path / "stopped", tokenizer, [corpus_dir], resume=True)
    resumed.train(show_progress=False)
    assert_bitwise_equal(parameters(straight.model), parameters(resumed.model))


def test_stop_ends_training_at_the_first_checkpoint_it_accepts(tmp_path, tokenizer, corpus_dir):
    config = tiny_config(steps=7)
    seen = []

    def at_step_4(checkpoint):
        seen.append(checkpoint.name)
        return checkpoint.name == "step_4"

    stopped = Trainer(config, tmp_path / "stopped", tokenizer, [corpus_dir])
    stopped.train(show_progress=False, stop=at_step_4)
    assert stopped.step == 4 and seen == ["step_1", "step_2", "step_4"]
    until = Trainer(config, tmp_path / "until", tokenizer, [corpus_dir])
    until.train(show_progress=False, until=4)
    assert_bitwise_equal(parameters(stopped.model), parameters(until.model))


def test_a_base_run_resumed_after_its_stop_trains_no_further(tmp_path, tokenizer, corpus_dir):
    from mda_curate.demo import train_base_run

    config, run, tokenizer_dir = tiny_config(steps=7), tmp_path / "run", tmp_path / "tokenizer"
    tokenizer.save_pretrained(tokenizer_dir)

    def at_step_2(checkpoint):
        return checkpoint.name == "step_2"

    for _ in range(2):  # the second call resumes at step 2, which already stops it
        train_base_run(config, corpus_dir, tokenizer_dir, run, stop=at_step_2)
    assert sorted(p.name for p in run.glob("step_*")) == ["step_0", "step_1", "step_2"]
    train_base_run(config, corpus_dir, tokenizer_dir, run)
    assert (run / "step_7").is_dir()
