"""The peer's whole job, as a user runs it: kronfluence 1.0.1 from a cold process start to a scores file.

Loads the model and tokenizer, tokenizes the training (and query, and factor) documents exactly as
``mda-curate influence --max-length N`` does, fits EK-FAC factors (empirical Fisher) on every Linear of
the transformer layers, scores the query loss's pairwise influence and writes ``doc_id, score`` to a
parquet file. ``end_to_end.py`` times this process against ``mda-curate influence``.

    python benchmarks/influence/kronfluence_job.py --model DIR --train F --query F [--factors-data F] --out F
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--query", required=True)
    parser.add_argument("--factors-data", help="documents the factors are fitted on (default: --train)")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mda_curate.influence.kronfluence_compat import kronfluence_scores
    from mda_curate.influence.samples import open_samples
    from mda_curate.models import load_causal_lm

    model, tokenizer = load_causal_lm(args.model)
    train = open_samples(args.train, tokenizer, args.max_length)
    rows = stacked(train)
    factor_rows = stacked(open_samples(args.factors_data, tokenizer, args.max_length)) if args.factors_data else None
    with tempfile.TemporaryDirectory() as work:
        peer = kronfluence_scores(
            model,
            rows,
            stacked(open_samples(args.query, tokenizer, args.max_length)),
            Path(work),
            batch_size=args.batch_size,
            factor_ids=factor_rows,
        )
    ids = [train[i].doc_id for i in range(len(train))]
    pq.write_table(pa.table({"doc_id": ids, "score": peer.scores.double().numpy()}), args.out)


def stacked(samples):
    """The samples' tokens as one ``(n, length)`` tensor: kronfluence's task takes unpadded, equal rows."""
    import numpy as np
    import torch

    rows = [samples[i].tokens for i in range(len(samples))]
    if len({len(r) for r in rows}) != 1:
        raise SystemExit(f"{samples.describe}: documents must all reach --max-length tokens")
    return torch.from_numpy(np.stack(rows))


if __name__ == "__main__":
    main()
