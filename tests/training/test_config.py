import math

import pytest
import torch

from mda_curate.errors import FieldError, UserError
from mda_curate.training.config import PRESETS, TrainConfig
from mda_curate.training.trainer import learning_rate

# Total parameters (embeddings and unembeddings included) of Pythia's published models at vocab 50304.
PYTHIA_PARAMETERS = {"pythia-14m": 14_067_712, "pythia-70m": 70_426_624, "pythia-160m": 162_322_944}


@pytest.mark.parametrize("name", sorted(PYTHIA_PARAMETERS))
def test_pythia_presets_have_the_published_parameter_counts(name):
    from transformers import GPTNeoXForCausalLM

    config = PRESETS[name].build_config()
    with torch.device("meta"):
        model = GPTNeoXForCausalLM(config)
    assert sum(p.numel() for p in model.parameters()) == PYTHIA_PARAMETERS[name]
    assert config.vocab_size == 50304 and config.max_position_embeddings == 2048
    assert config.rope_parameters["partial_rotary_factor"] == 0.25 and config.use_parallel_residual
    assert not config.tie_word_embeddings


def test_cpu_tiny_is_the_reference_recipe_model():
    config = PRESETS["cpu-tiny"].build_config(vocab_size=1024)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (2, 128, 4)
    assert config.intermediate_size == 512 and config.max_position_embeddings == 128 and config.vocab_size == 1024
    assert config.rope_parameters["partial_rotary_factor"] == 1.0
    assert not config.use_parallel_residual and not config.tie_word_embeddings
    assert config.hidden_dropout == 0 and config.attention_dropout == 0
    assert PRESETS["pythia-14m"].build_config(vocab_size=300, context_length=64).max_position_embeddings == 64


def test_cpu_tiny_3l_is_cpu_tiny_with_a_third_layer():
    tiny = PRESETS["cpu-tiny"].build_config(vocab_size=1024).to_dict()
    deeper = PRESETS["cpu-tiny-3l"].build_config(vocab_size=1024).to_dict()
    assert deeper.pop("num_hidden_layers") == 3 and tiny.pop("num_hidden_layers") == 2
    assert deeper == tiny


def test_recipe_defaults_and_checkpoint_steps():
    config = TrainConfig(steps=3000, checkpoint_every=1000)
    assert (config.ctx, config.batch_size, config.lr, config.warmup_steps) == (128, 32, 1e-3, 100)
    assert (config.betas, config.weight_decay, config.grad_clip) == ((0.9, 0.95), 0.0, 1.0)
    assert sorted(config.checkpoint_steps()) == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000, 3000]
    assert sorted(TrainConfig(steps=5).checkpoint_steps()) == [0, 1, 2, 4, 5]


def test_learning_rate_warmup_then_constant_or_cosine():
    constant = TrainConfig(steps=100, warmup_steps=10, lr=1.0)
    assert [learning_rate(s, constant) for s in (0, 9, 10, 99)] == [0.1, 1.0, 1.0, 1.0]
    cosine = TrainConfig(steps=110, warmup_steps=10, lr=1.0, lr_schedule="cosine")
    assert learning_rate(10, cosine) == 1.0
    assert math.isclose(learning_rate(60, cosine), 0.55) and math.isclose(learning_rate(110, cosine), 0.1)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"lr": -1.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"preset": "gpt2"}, "preset"),
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"catalyst_share": 1.5}, "catalyst_share"),
        ({"mix": {"prose": -1.0}}, "mix[prose]"),
        ({"betas": (0.9,)}, "betas"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_config_errors_name_the_field(overrides, field):
    with pytest.raises(FieldError) as error:
        TrainConfig(**overrides)
    assert error.value.field == field and str(error.value).startswith(f"{field}: must be ")


def test_config_round_trips_and_reports_differences():
    config = TrainConfig(mix={"prose": 1.0}, threads=2)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.differences(TrainConfig(mix={"prose": 1.0}, threads=1, lr=2e-3)) == ["lr: 0.001 -> 0.002"]
    with pytest.raises(UserError, match="unknown field 'learning_rate'"):
        TrainConfig.from_dict({"learning_rate": 1.0})


def test_the_natural_formation_recipe_is_the_committed_runs_whose_heads_formed():
    """The recipe reproduces the committed natural-only runs of four seeds, and each run's scores form a head."""
    import json
    from dataclasses import replace
    from pathlib import Path

    import pyarrow.parquet as pq

    from mda_curate.training.config import RECIPES, TrainConfig
    from mda_curate.units.formation import formation, summarize_steps

    runs = Path(__file__).resolve().parents[2] / "benchmarks/natural_formation/runs"
    recipe = RECIPES["natural-formation"]
    assert recipe.catalyst_share == 0 and recipe.preset == "cpu-tiny-3l"
    for seed, checkpoint in ((3, 6000), (4, 5000), (5, 6500), (6, 4500)):
        run = runs / f"3l-ctx256-b32-lr3e-3-s{seed}"
        config = TrainConfig.from_dict(json.loads((run / "config.json").read_text())["train"])
        assert config.differences(replace(recipe, seed=seed)) == [], seed
        formed = formation(summarize_steps(pq.read_table(run / "unit_scores.parquet").to_pylist()))
        assert formed.checkpoint == checkpoint and checkpoint - 250 < formed.step < checkpoint, seed
        assert not formed.left_censored
