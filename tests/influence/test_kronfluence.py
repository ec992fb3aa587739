"""Module mode against kronfluence 1.0.1 on the same model, modules, data, Fisher and damping."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import spearmanr

from mda_curate.influence.blocks import module_blocks
from mda_curate.influence.engine import influence_scores
from mda_curate.influence.probes import query_loss_probe
from mda_curate.influence.samples import Sample, Samples
from mda_curate.influence.settings import InfluenceSettings

pytest.importorskip("kronfluence", reason="kronfluence is installed by `make install` (--no-deps)")


def token_rows(n: int, length: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(2, 64, (n, length), generator=generator)
    rows[::2, length // 2 :] = rows[::2, : length - length // 2]  # half the rows repeat themselves
    return rows


def as_samples(rows: torch.Tensor) -> Samples:
    return Samples("rows", len(rows), lambda i: Sample(i, f"row-{i}", "x", rows[i].numpy()))


@pytest.mark.parametrize("strategy", ["ekfac", "kfac"])
def test_module_mode_agrees_with_kronfluence(neox, tmp_path, strategy):
    assert_agrees_with_kronfluence(neox.random_model(seed=5, hidden_size=32, intermediate_size=64), tmp_path, strategy)


@pytest.mark.parametrize("family", ["llama", "olmo2", "qwen2"])
def test_llama_style_module_mode_agrees_with_kronfluence(llama, tmp_path, family):
    """Every Linear of the layers: q/k/v/o (Qwen2's q/k/v biases included) and the gated MLP; norms frozen."""
    model = llama.random_model(family, seed=5, hidden_size=32, intermediate_size=64)
    assert_agrees_with_kronfluence(model, tmp_path, "ekfac")


def assert_agrees_with_kronfluence(model, tmp_path, strategy):
    from mda_curate.influence.kronfluence_compat import kronfluence_scores

    train, query = token_rows(48, 24, seed=0), token_rows(2, 24, seed=1)
    settings = InfluenceSettings(strategy=strategy, fisher="empirical", batch_size=8)
    ours = influence_scores(
        model, module_blocks(model), query_loss_probe(as_samples(query), 2, 0), as_samples(train), settings
    )
    peer = kronfluence_scores(model, train, query, tmp_path, strategy=strategy, empirical=True, batch_size=8).scores
    rho = spearmanr(ours, peer.numpy()).statistic
    print(f"{model.config.model_type} {strategy}: Spearman vs kronfluence {rho:.5f}")
    assert rho >= 0.99
    torch.testing.assert_close(
        torch.from_numpy(ours).float(), peer.float(), rtol=2e-3, atol=2e-3 * float(peer.abs().max())
    )
