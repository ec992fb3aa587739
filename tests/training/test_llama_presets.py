"""Llama-style presets in the same trainer: llama-tiny (CPU) and the Pico/OLMo 2-shaped GPU presets."""

import pytest
import torch

from mda_curate.errors import UserError
from mda_curate.training.config import PRESETS, ModelPreset
from mda_curate.training.trainer import Trainer

from .conftest import tiny_config


def parameters(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize(
    ("name", "model_type", "layers", "heads", "kv_heads", "head_dim"),
    [
        ("llama-tiny", "llama", 2, 4, 2, 32),
        ("llama-tiny-3l", "llama", 3, 4, 2, 32),
        ("pico-tiny", "llama", 12, 12, 4, 8),
        ("pico-small", "llama", 12, 12, 4, 32),
        ("olmo2-70m", "olmo2", 6, 8, 8, 64),
    ],
)
def test_llama_style_presets_build_their_family_and_shape(name, model_type, layers, heads, kv_heads, head_dim):
    config = PRESETS[name].build_config(vocab_size=300)
    assert config.model_type == model_type
    shape = (config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads)
    assert shape == (layers, heads, kv_heads)
    assert config.hidden_size // heads == head_dim and config.intermediate_size == 4 * config.hidden_size
    assert config.rope_parameters["rope_theta"] == 10000.0 and not config.tie_word_embeddings


def test_llama_tiny_resumes_bitwise_and_its_checkpoints_score_as_units(tmp_path, tokenizer, corpus_dir):
    from mda_curate.models import load_causal_lm
    from mda_curate.units import ProbeSettings, probe_sequences, score_heads

    config = tiny_config(preset="llama-tiny", steps=4)
    straight = Trainer(config, tmp_path / "straight", tokenizer, [corpus_dir])
    straight.train(show_progress=False)
    assert type(straight.model).__name__ == "LlamaForCausalLM"
    first = Trainer(config, tmp_path / "split", tokenizer, [corpus_dir])
    first.train(show_progress=False, until=2)
    resumed = Trainer(config, tmp_path / "split", tokenizer, [corpus_dir], resume=True)
    resumed.train(show_progress=False)
    after, reference = parameters(resumed.model), parameters(straight.model)
    assert after.keys() == reference.keys() and all(torch.equal(after[k], reference[k]) for k in after)

    model, loaded_tokenizer = load_causal_lm(str(tmp_path / "straight" / "step_4"))
    sequences, _ = probe_sequences(loaded_tokenizer, ProbeSettings(n_sequences=2, lengths=(6, 6)))
    assert score_heads(model, sequences).induction.shape == (2, 4)


def test_a_checkpoint_of_another_family_is_refused(tmp_path, tokenizer, corpus_dir):
    Trainer(tiny_config(steps=1), tmp_path / "neox", tokenizer, [corpus_dir]).train(show_progress=False)
    with pytest.raises(UserError, match="model_type is gpt_neox, the llama-tiny preset has llama"):
        Trainer(
            tiny_config(steps=1, preset="llama-tiny"),
            tmp_path / "arm",
            tokenizer,
            [corpus_dir],
            init_from=tmp_path / "neox" / "step_1",
        )


@pytest.mark.parametrize("name", ["pico-tiny", "olmo2-70m"])
def test_gpu_presets_train_with_the_same_code(tmp_path, tokenizer, corpus_dir, name):
    """Only the context is shortened for CPU; two steps lower the loss (OLMo 2: QK-norm, post-norm blocks)."""
    config = tiny_config(preset=name, steps=2, lr=1e-2, warmup_steps=0)
    trainer = Trainer(config, tmp_path / name, tokenizer, [corpus_dir])
    losses = [float(trainer.train_step(step, trainer.batch(0))) for step in range(3)]
    assert losses[2] < losses[0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"family": "gpt2"}, "'gpt2' model; only GPT-NeoX"),
        ({"family": "llama", "rotary_pct": 0.25}, "rotary_pct=1.0"),
        ({"kv_heads": 2}, "GPT-NeoX has no grouped KV heads"),
        ({"family": "llama", "kv_heads": 3}, "not a multiple"),
    ],
)
def test_preset_errors_name_the_preset(fields, message):
    with pytest.raises(UserError, match=message):
        ModelPreset(
            **{
                "name": "x",
                "num_layers": 2,
                "hidden_size": 64,
                "num_heads": 4,
                "context_length": 16,
                "rotary_pct": 1.0,
                "parallel_residual": False,
                **fields,
            }
        )
