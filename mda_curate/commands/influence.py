"""``mda-curate influence``: EK-FAC influence of training samples on one head's probe (or on whole modules)."""

from __future__ import annotations

import argparse
import os

from mda_curate.influence.request import add_request_flags


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "influence",
        help="influence of every training sample on a unit (one head's Q/K/V/O) or on whole modules",
        description=(
            "Score every training sample by I(z) = -grad L(z)^T (F + damping)^-1 grad f, with f the unit's probe "
            "and F an EK-FAC Fisher restricted to one attention head's slices (--unit L.H: its Q rows, its KV "
            "group's K and V rows, its O columns, in GPT-NeoX's fused weights or Llama-style q/k/v/o_proj), or to "
            "every Linear of the transformer layers (--modules all-linear, as kronfluence). "
            "Positive = upweighting the sample increases f (for query-loss: lowers the query loss). Writes one row "
            "per training sample, in input order: doc_id, score, plus sample_index, domain, loss, n_tokens, skipped."
        ),
    )
    add_request_flags(parser)
    parser.add_argument("--rank", type=int, help="this worker's rank (default $RANK or 0)")
    parser.add_argument("--world-size", type=int, help="number of workers (default $WORLD_SIZE or 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mda_curate.influence.request import compute_influence, request_from_args

    rank = args.rank if args.rank is not None else int(os.environ.get("RANK", "0"))
    world_size = args.world_size if args.world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    compute_influence(request_from_args(args), rank, world_size)
    return 0
