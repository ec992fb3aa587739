"""Influence labels across seeds: a catalyst classifier taught by one seed's window, checked on another's.

Labels are those of ``mda-curate classifier train --run``: the top --fraction of a window's scored samples by
influence = 1, the bottom --fraction = 0. The catalyst classifier (trained here on the --label window, or the
--classifier given, e.g. one trained by that command) and a fastText bigram classifier trained on the same
labelled samples are scored on the --check window's labelled samples: held-out AUROC for all of them and for
those whose source document does not occur in the --label window, and docs/s of both on the check window's
texts (one thread, best of --repeats, timed alternately); AUROC intervals are bootstrapped over source
documents. Then how the classifier ranks the held-out corpus by domain, and its Spearman agreement with the
proxy classifier (classifiers/catalyst-proxy) there.

    OMP_NUM_THREADS=1 python benchmarks/natural_catalysts/cross_seed.py --label RUN_A SCORES_A.parquet \\
        --check RUN_B SCORES_B.parquet --out benchmarks/natural_catalysts/cross_seed.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy loads its thread pools

import argparse
import json
import platform
import shlex
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from mda_curate.classifier import PROXY_CLASSIFIER, load_classifier
from mda_curate.classifier.fasttext_baseline import FastText, docs_per_second
from mda_curate.classifier.labels import window_labels
from mda_curate.classifier.train import per_domain, train_classifier
from mda_curate.data.documents import Document, read_documents
from mda_curate.influence.window import scored_window
from mda_curate.resources import sample_corpus_dir

CONFIDENCE = 0.95


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    label_window, check_window = scored_window(*args.label), scored_window(*args.check)
    label_samples, label_labels, label_groups = window_labels(label_window, args.fraction)
    check_samples, check_labels, check_groups = window_labels(check_window, args.fraction)
    if args.classifier:
        ours, trained = load_classifier(args.classifier), {"classifier": args.classifier}
    else:
        ours, card = train_classifier(
            [s.text for s in label_samples],
            label_labels,
            label_groups,
            [s.domain for s in label_samples],
            seed=args.seed,
        )
        trained = {
            "classifier": "trained here",
            "model": card["model"]["chosen"],
            "validation_auroc": card["metrics"]["auroc"],
        }
    fast = FastText([Document(s.doc_id, s.text, s.domain) for s in label_samples], label_labels, args.seed)
    seen = {s.document.split("#")[0] for s in label_window.samples}
    unseen = np.array([s.document.split("#")[0] not in seen for s in check_samples])
    texts = [s.text for s in check_samples]
    scores = {"ours": ours.score(texts), "fasttext": fast.score(texts)}
    result = {
        "command": "OMP_NUM_THREADS=1 python "
        + shlex.join(["benchmarks/natural_catalysts/cross_seed.py", *sys.argv[1:]]),
        "labels": {
            "rule": f"top {args.fraction:.0%} by influence = 1, bottom {args.fraction:.0%} = 0",
            "fraction": args.fraction,
            "label_window": label_window.provenance,
            "check_window": check_window.provenance,
        },
        "ours": trained,
        "data": {
            "label_samples": len(label_samples),
            "check_samples": len(check_samples),
            "check_positives": int(check_labels.sum()),
            "check_unseen_documents": int(unseen.sum()),
        },
        "heldout_auroc": {
            "interval": f"{CONFIDENCE:.0%} percentile bootstrap over the check window's source documents "
            f"({args.bootstrap} resamples, seed {args.seed}); ours_minus_fasttext is paired on the same resamples",
            "all": aurocs(scores, check_labels, check_groups, args.bootstrap, args.seed),
            "unseen_documents": aurocs(scores, check_labels, check_groups, args.bootstrap, args.seed, unseen),
        },
        "throughput": throughput({"ours": ours, "fasttext": fast}, texts, args.repeats),
        "heldout_corpus": heldout_ranking(ours, args.heldout),
    }
    result["machine"] = {"cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "system": platform.platform()}
    result["versions"] = {p: version(p) for p in ("numpy", "scikit-learn", "fasttext-numpy2-wheel")}
    result["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("data", "heldout_auroc", "throughput", "heldout_corpus")}, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--label", nargs=2, required=True, metavar=("RUN", "SCORES"), help="the window whose labels teach"
    )
    parser.add_argument(
        "--check", nargs=2, required=True, metavar=("RUN", "SCORES"), help="the window the labels are checked on"
    )
    parser.add_argument("--classifier", help="a trained classifier folder to check instead of training one on --label")
    parser.add_argument("--fraction", type=float, default=0.2, help="top/bottom fraction labelled 1/0 (default 0.2)")
    parser.add_argument("--heldout", default=str(sample_corpus_dir() / "heldout.parquet"), help="the held-out corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="throughput: best of this many timed runs each")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the AUROC intervals")
    parser.add_argument("--out", required=True, help="output JSON")
    return parser.parse_args()


def aurocs(
    scores: dict, labels: np.ndarray, groups: list[str], resamples: int, seed: int, mask: np.ndarray | None = None
) -> dict:
    """AUROC of each scorer on the masked samples, with a bootstrap interval over source documents (samples of one
    document are not independent), and the paired difference ours - fasttext on the same resamples."""
    from sklearn.metrics import roc_auc_score

    mask = np.ones(len(labels), dtype=bool) if mask is None else mask
    labels, groups = labels[mask], np.asarray(groups)[mask]
    scores = {name: s[mask] for name, s in scores.items()}
    if len(set(labels.tolist())) < 2:
        return {"n": int(mask.sum()), "note": "one label only: no AUROC"}
    documents = np.unique(groups)
    members = [np.flatnonzero(groups == d) for d in documents]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in [*scores, "ours_minus_fasttext"]}
    for _ in range(resamples):
        rows = np.concatenate([members[i] for i in rng.integers(len(documents), size=len(documents))])
        if len(set(labels[rows].tolist())) < 2:
            continue
        values = {name: roc_auc_score(labels[rows], s[rows]) for name, s in scores.items()}
        for name, value in values.items():
            draws[name].append(value)
        draws["ours_minus_fasttext"].append(values["ours"] - values["fasttext"])
    point = {name: float(roc_auc_score(labels, s)) for name, s in scores.items()}
    point["ours_minus_fasttext"] = point["ours"] - point["fasttext"]
    tail = (1 - CONFIDENCE) / 2 * 100
    return {
        "n": int(mask.sum()),
        "positives": int(labels.sum()),
        "documents": len(documents),
        **{
            name: {"auroc": value, "interval": np.percentile(draws[name], [tail, 100 - tail]).tolist()}
            for name, value in point.items()
        },
    }


def throughput(scorers: dict, texts: list[str], repeats: int) -> dict:
    rates = docs_per_second(scorers, texts, repeats)
    return {
        "documents": len(texts),
        "mb": round(sum(map(len, texts)) / 1e6, 3),
        "docs_per_s": rates,
        "ratio_ours_over_fasttext": rates["ours"] / rates["fasttext"],
        "threads": os.environ.get("OMP_NUM_THREADS"),
    }


def heldout_ranking(ours, path: str) -> dict:
    """Per-domain scores of the classifier and of the proxy classifier on the held-out corpus, and their Spearman."""
    from scipy.stats import spearmanr

    docs = list(read_documents([path]))
    texts, domains = [d.text for d in docs], [d.domain for d in docs]
    mine, proxy = ours.score(texts), load_classifier(PROXY_CLASSIFIER).score(texts)
    by_domain = per_domain(mine, None, domains)
    ranked = sorted(by_domain, key=lambda d: -by_domain[d]["mean"])
    return {
        "documents": len(docs),
        "domains_by_mean_score": ranked,
        "per_domain": by_domain,
        "proxy_per_domain": per_domain(proxy, None, domains),
        "spearman_with_proxy": float(spearmanr(mine, proxy).statistic),
    }


if __name__ == "__main__":
    main()
