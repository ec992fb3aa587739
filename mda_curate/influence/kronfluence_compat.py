"""The same influence computed by kronfluence (the peer), for comparisons in tests and benchmarks.

kronfluence scores whole ``nn.Linear`` modules; mda-curate's module mode (``module_blocks``) tracks the
same modules with the same conventions (bias as an appended ones column, per-example eigenvalues,
damping ``0.1 * mean(Λ)``), so with the same data and Fisher the two must rank samples alike. Needs
``kronfluence`` (installed ``--no-deps`` by the Makefile).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from mda_curate.errors import UserError
from mda_curate.influence.blocks import module_blocks


@dataclass
class PeerResult:
    scores: torch.Tensor  # (n,)
    factor_seconds: float
    score_seconds: float


def kronfluence_scores(
    model,
    train_ids: torch.Tensor,
    query_ids: torch.Tensor,
    work: Path,
    strategy: str = "ekfac",
    empirical: bool = True,
    batch_size: int = 8,
    factor_ids: torch.Tensor | None = None,
) -> PeerResult:
    """kronfluence's query-loss influence of each row of ``train_ids``, summed over ``query_ids`` rows, and timings.

    All are equal-length token batches (no padding); the factors are fitted on ``factor_ids`` (default:
    ``train_ids``); modules: every Linear of the transformer layers."""
    try:
        from kronfluence.analyzer import Analyzer, prepare_model
        from kronfluence.arguments import FactorArguments, ScoreArguments
        from kronfluence.task import Task
    except ImportError as err:
        raise UserError(f"kronfluence is not installed ({err}); run `make install`") from None

    modules = [block.name for block in module_blocks(model)]

    class LanguageModelTask(Task):
        def compute_train_loss(self, batch, model, sample=False):
            logits = model(input_ids=batch["input_ids"]).logits[:, :-1].float()
            flat = logits.reshape(-1, logits.shape[-1])
            if sample:
                with torch.no_grad():
                    labels = torch.multinomial(flat.softmax(-1), 1).flatten()
            else:
                labels = batch["input_ids"][:, 1:].reshape(-1)
            return F.cross_entropy(flat, labels, reduction="sum")

        def compute_measurement(self, batch, model):
            return self.compute_train_loss(batch, model)

        def get_influence_tracked_modules(self):
            return modules

    task = LanguageModelTask()
    model = prepare_model(copy.deepcopy(model), task)  # kronfluence wraps the modules in place
    analyzer = Analyzer("mda", model, task, cpu=True, output_dir=str(work), disable_tqdm=True, disable_model_save=True)
    train = [{"input_ids": row} for row in train_ids]
    query = [{"input_ids": row} for row in query_ids]
    started = time.perf_counter()
    analyzer.fit_all_factors(
        "factors",
        train if factor_ids is None else [{"input_ids": row} for row in factor_ids],
        per_device_batch_size=batch_size,
        factor_args=FactorArguments(strategy=strategy, use_empirical_fisher=empirical),
        overwrite_output_dir=True,
    )
    factored = time.perf_counter()
    analyzer.compute_pairwise_scores(
        "scores",
        "factors",
        query,
        train,
        per_device_query_batch_size=len(query),
        per_device_train_batch_size=batch_size,
        score_args=ScoreArguments(damping_factor=None),
        overwrite_output_dir=True,
    )
    scored = time.perf_counter()
    scores = analyzer.load_pairwise_scores("scores")["all_modules"].sum(dim=0)
    return PeerResult(scores, factored - started, scored - factored)
