"""Metrics of one checkpoint: every head's unit scores, the induction loss, the ICL score and the
held-out loss per domain.

Head scores and the induction loss come from ``mda_curate.units`` (``[BOS] x x`` probes drawn by
``ProbeSettings(probe_sequences, probe_lengths)``); the ICL score is ``units.icl`` on the held-out
``prose`` documents; ``heldout_loss_<domain>`` is the mean next-token loss over the first
``heldout_contexts`` contexts of ``ctx`` tokens of that domain's held-out documents (joined with EOS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mda_curate.validation.spec import MetricSettings

ICL_DOMAIN = "prose"


@dataclass
class Probes:
    """Everything scored at each checkpoint, prepared once per run."""

    sequences: list
    icl_texts: list[str] | None
    heldout: dict  # domain -> (n, ctx) token tensor
    icl_contexts: int


def heldout_path(settings: MetricSettings) -> Path:
    from mda_curate.resources import sample_corpus_dir

    return settings.heldout or sample_corpus_dir() / "heldout.parquet"


def prepare_probes(tokenizer, settings: MetricSettings, ctx: int) -> Probes:
    """Probe sequences, ICL texts and per-domain held-out contexts for models of context ``ctx``."""
    from mda_curate.data.documents import read_documents
    from mda_curate.units.icl import icl_contexts
    from mda_curate.units.scoring import probe_sequences
    from mda_curate.units.sequences import ProbeSettings

    sequences, _ = probe_sequences(tokenizer, ProbeSettings(settings.probe_sequences, settings.probe_lengths))
    texts: dict[str, list[str]] = {}
    for doc in read_documents([heldout_path(settings)]):
        texts.setdefault(doc.domain, []).append(doc.text)
    heldout = {
        domain: contexts
        for domain in sorted(texts)
        if len(contexts := icl_contexts(tokenizer, texts[domain], ctx, settings.heldout_contexts)) > 0
    }
    return Probes(sequences, texts.get(ICL_DOMAIN), heldout, settings.icl_contexts)


def checkpoint_metrics(path: Path, tokenizer, probes: Probes, device: str = "cpu") -> list[dict]:
    """One row per head of the checkpoint at ``path``, each with the checkpoint's per-step metrics."""
    from mda_curate.models import load_causal_lm
    from mda_curate.units.heads import score_heads
    from mda_curate.units.icl import loss_by_position
    from mda_curate.units.scoring import model_icl_score

    model, _ = load_causal_lm(str(path), device=device, tokenizer_from=str(tokenizer.name_or_path))
    heads = score_heads(model, probes.sequences)
    icl, _ = model_icl_score(model, tokenizer, probes.icl_texts, max_contexts=probes.icl_contexts)
    per_step = {
        "induction_loss_first": heads.induction_loss_first,
        "induction_loss_second": heads.induction_loss_second,
        "induction_loss_drop": heads.induction_loss_first - heads.induction_loss_second,
        "icl_score": icl,
        **{f"heldout_loss_{d}": float(loss_by_position(model, c).mean()) for d, c in probes.heldout.items()},
    }
    return [{**head, **per_step} for head in heads.rows()]
