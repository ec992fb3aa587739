"""Curvature factors of each block, and preconditioning with them.

For a block with inputs ``x`` and output gradients ``g`` (``capture``), K-FAC approximates the Fisher
by ``A ⊗ S`` with ``A = E[x xᵀ]`` and ``S = E[g gᵀ]`` over tokens. EK-FAC keeps the eigenbases
``Q_A``, ``Q_S`` and refits the eigenvalues: ``Λ = E_n[(Q_Sᵀ G_n Q_A)²]`` over **per-example**
gradients ``G_n = Σ_t g_t x_tᵀ`` (George et al. 2018; kronfluence does the same). The paper's released
code fits ``Λ`` from batch-summed gradients divided by the batch size; that estimates
``E[(Σ_n G_n)²] / B``, which drops the per-example variance the correction exists to capture and
mixes in cross-example terms, so mda-curate fits per example. Per-example gradients are formed only
here, one batch at a time, never for scoring.

Covariances and eigenvalues accumulate in the model's precision, at least float32 (float32 for a float32
model, as kronfluence's defaults); eigendecompositions run in float64. Labels for ``g`` are sampled from
the model (true Fisher) by default, or taken from the data (empirical Fisher). Padding positions are
excluded from ``A``. The damping is ``0.1 * mean(Λ)`` per block unless given. ``precondition(G)``
returns ``(F + λI)⁻¹ G`` in the block's approximation.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mda_curate.errors import UserError
from mda_curate.influence.blocks import Block
from mda_curate.influence.capture import Capture, per_sample_gradients
from mda_curate.influence.probes import summed_token_losses
from mda_curate.influence.settings import RELATIVE_DAMPING, InfluenceSettings

FACTORS_FILE = "factors.safetensors"
ARGUMENTS_FILE = "arguments.json"
Factors = dict[str, dict[str, torch.Tensor]]  # block name -> {"A_vectors", "S_vectors", "lambda"}


def fit_factors(model, blocks: list[Block], batches, settings: InfluenceSettings, progress=None) -> Factors:
    """Fit each block's factors for ``settings.strategy`` on ``batches`` (re-iterable ``samples.Batches``)."""
    if settings.strategy == "identity":
        return {}
    if next(iter(batches), None) is None:
        raise UserError(
            "no curvature sample has 2 or more tokens: nothing to fit the factors on (check the training data)"
        )
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(settings.seed)
    factors: Factors = {block.name: {} for block in blocks}
    if settings.strategy in ("kfac", "ekfac"):
        covariances = _covariances(model, blocks, batches, settings, generator, progress)
        for name, (a, s) in covariances.items():
            a_values, factors[name]["A_vectors"] = _eigh(a, name, "A")
            s_values, factors[name]["S_vectors"] = _eigh(s, name, "S")
            factors[name]["lambda"] = torch.outer(s_values, a_values).clamp_min(0)
    if settings.strategy in ("diagonal", "ekfac"):
        lambdas = _eigenvalues(model, blocks, factors, batches, settings, generator, progress)
        for name, value in lambdas.items():
            factors[name]["lambda"] = value
    for name, block_factors in factors.items():
        for key, value in block_factors.items():
            if not torch.isfinite(value).all():
                raise UserError(
                    f"factors of block {name}: non-finite values in {key} (check the model and data for NaN/inf)"
                )
    return factors


def precondition(gradient: torch.Tensor, factors: dict[str, torch.Tensor], damping: float | None) -> torch.Tensor:
    """``(F + λI)⁻¹ gradient`` for one block (``factors`` empty: identity)."""
    if not factors:
        return gradient
    lam = factors["lambda"]
    damp = RELATIVE_DAMPING * float(lam.mean()) if damping is None else damping
    if "A_vectors" not in factors:
        return gradient.to(lam.dtype) / (lam + damp)
    qa, qs = factors["A_vectors"], factors["S_vectors"]
    return qs @ ((qs.T @ gradient.to(qs.dtype) @ qa) / (lam + damp)) @ qa.T


def fisher_loss(model, input_ids, attention_mask, fisher: str, generator: torch.Generator) -> torch.Tensor:
    """Summed next-token loss with labels from the data (empirical Fisher) or sampled from the model (true)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    if fisher == "empirical":
        targets = input_ids[:, 1:]
    else:
        probs = logits[:, :-1].detach().float().softmax(-1).flatten(0, 1)
        if not torch.isfinite(probs).all():
            raise UserError("curvature: the model's logits are not finite, so no labels can be sampled (true Fisher)")
        targets = torch.multinomial(probs, 1, generator=generator).view(len(input_ids), -1)
    return summed_token_losses(logits, targets, attention_mask).sum()


def save_factors(factors: Factors, directory: Path, arguments: dict) -> None:
    """Write ``factors.safetensors`` next to ``arguments.json`` (the arguments that made them)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    flat = {f"{name}/{key}": value.cpu().contiguous() for name, fs in factors.items() for key, value in fs.items()}
    tmp = directory / (FACTORS_FILE + ".tmp")
    save_file(flat, str(tmp))
    tmp.replace(directory / FACTORS_FILE)
    (directory / ARGUMENTS_FILE).write_text(json.dumps(arguments, indent=2) + "\n")


def load_factors(directory: Path, arguments: dict) -> Factors | None:
    """The factors saved in ``directory`` if they were made with ``arguments``, else ``None``."""
    from safetensors.torch import load_file

    args_path, path = directory / ARGUMENTS_FILE, directory / FACTORS_FILE
    if not (args_path.is_file() and path.is_file()) or json.loads(args_path.read_text()) != arguments:
        return None
    factors: Factors = {}
    for key, value in load_file(str(path)).items():
        name, part = key.rsplit("/", 1)
        factors.setdefault(name, {})[part] = value
    return factors


def _objective_terms(model, capture: Capture, input_ids, attention_mask, settings, generator):
    return capture.backward(fisher_loss(model, input_ids, attention_mask, settings.fisher, generator))


def _covariances(
    model, blocks, batches, settings, generator, progress
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    sums = {block.name: [0.0, 0.0] for block in blocks}
    tokens, dtype = 0, accumulation_dtype(model)
    with Capture(model, blocks) as capture:
        for _, _, input_ids, attention_mask in _tracked(batches, progress, "curvature: covariances"):
            keep = attention_mask.bool()
            tokens += int(keep.sum())
            for name, terms in _objective_terms(
                model, capture, input_ids, attention_mask, settings, generator
            ).items():
                for x, g in terms:
                    x, g = x[keep].to(dtype), g[keep].to(dtype)
                    sums[name][0] = sums[name][0] + x.T @ x
                    sums[name][1] = sums[name][1] + g.T @ g
    return {name: (a / tokens, s / tokens) for name, (a, s) in sums.items()}


def _eigenvalues(model, blocks, factors, batches, settings, generator, progress) -> dict[str, torch.Tensor]:
    sums: dict[str, torch.Tensor] = {}
    samples, dtype = 0, accumulation_dtype(model)
    with Capture(model, blocks) as capture:
        for _, _, input_ids, attention_mask in _tracked(batches, progress, "curvature: eigenvalues"):
            samples += len(input_ids)
            for name, terms in _objective_terms(
                model, capture, input_ids, attention_mask, settings, generator
            ).items():
                if "A_vectors" in factors[name]:
                    grads = rotated_gradients(terms, factors[name]["A_vectors"], factors[name]["S_vectors"])
                else:
                    grads = per_sample_gradients(terms).to(dtype)
                squared = grads.square().sum(dim=0)
                sums[name] = sums[name] + squared if name in sums else squared
    return {name: value / samples for name, value in sums.items()}


def rotated_gradients(terms: list[tuple[torch.Tensor, torch.Tensor]], qa: torch.Tensor, qs: torch.Tensor):
    """``Q_Sᵀ G_n Q_A`` for each sample, in the eigenvectors' dtype. The tokens' ``x`` and ``g`` are rotated
    before their outer products where that takes fewer operations (samples shorter than about the block's
    width), else the per-sample gradients are formed and rotated."""
    tokens = sum(x.shape[1] for x, _ in terms)
    out, inp = qs.shape[0], qa.shape[0]
    if tokens * (out * out + inp * inp) < out * inp * (out + inp):
        return sum(torch.einsum("bto,bti->boi", g.to(qs.dtype) @ qs, x.to(qa.dtype) @ qa) for x, g in terms)
    return qs.T @ per_sample_gradients(terms).to(qs.dtype) @ qa


def _eigh(matrix: torch.Tensor, block: str, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not torch.isfinite(matrix).all():
        raise UserError(
            f"factors of block {block}: non-finite values in covariance {which} (check the model and data for NaN/inf)"
        )
    values, vectors = torch.linalg.eigh(matrix.double())
    # contiguous: factors loaded from disk are, and float32 products depend on the memory layout
    return values.clamp_min(0).to(matrix.dtype), vectors.to(matrix.dtype).contiguous()


def accumulation_dtype(model) -> torch.dtype:
    """The precision factors accumulate in: the model's, at least float32."""
    return torch.promote_types(next(model.parameters()).dtype, torch.float32)


def _tracked(batches, progress, description: str):
    if progress is None:
        yield from batches
        return
    task = progress.add_task(description, total=len(batches))
    for batch in batches:
        yield batch
        progress.advance(task)
