"""Catalyst classifier vs a fastText bigram classifier (the DCLM recipe) trained on the same labels.

Reports held-out AUROC (overall and per domain), transfer to domains never seen in training (markup and
records vs prose, after training on prose/code/LaTeX only), single-thread throughput on the same
shard (docs/s, and ours / fastText as a ratio), and what the features' default prefix cap costs (the
same classifier on whole documents: AUROC and docs/s). Labels are influence top/bottom fractions with --scores,
else the proxy domain label of the default classifier (code/latex/markup/records = 1, prose = 0).

    OMP_NUM_THREADS=1 python benchmarks/classifier/classifier_vs_fasttext.py            # writes the .json next to it
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy loads its thread pools

import argparse
import json
import platform
import shlex
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np

from mda_curate.classifier.fasttext_baseline import FastText, docs_per_second
from mda_curate.classifier.features import FeatureSettings
from mda_curate.classifier.labels import document_group, domain_labels, read_influence_scores, top_bottom_labels
from mda_curate.classifier.train import TrainSettings, grouped_split, train_classifier
from mda_curate.data.documents import read_documents

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "examples" / "data"
PROXY_POSITIVE = ("code", "latex", "markup", "records")
TRANSFER_TRAIN, TRANSFER_UNSEEN = ("prose", "code", "latex"), ("markup", "records")
WHOLE_DOCUMENTS = FeatureSettings(max_chars=100_000)  # the default features on (nearly) whole documents


def main() -> None:
    args = parse_args()
    train_docs = list(read_documents([args.train]))
    heldout_docs = list(read_documents([args.heldout]))
    (train_set, train_labels), (test_set, test_labels), label_rule = labelled_sets(args, train_docs, heldout_docs)
    result = {
        "command": "OMP_NUM_THREADS=1 python "
        + shlex.join(["benchmarks/classifier/classifier_vs_fasttext.py", *sys.argv[1:]]),
        "labels": label_rule,
        "data": {
            "train": len(train_set),
            "test": len(test_set),
            "train_positives": int(train_labels.sum()),
            "test_positives": int(test_labels.sum()),
        },
        "fasttext_settings": {
            "wordNgrams": 2,
            "thread": 1,
            "seed": args.seed,
            "other": "fastText defaults (dim 100, epoch 5, lr 0.1)",
            "preprocessing": "newlines replaced by spaces",
        },
    }
    ours, fast = fit_both(train_set, train_labels, args.seed)
    result["heldout"] = compare(ours, fast, test_set, test_labels, per_domain_mode=label_rule["kind"])
    result["heldout"]["ours_model"] = ours.card["model"]["chosen"]
    result["transfer"] = transfer(train_docs, heldout_docs, args.seed)
    shard = [d.text for d in heldout_docs] * args.shard_copies
    result["throughput"] = throughput(ours, fast, shard, args.repeats)
    result["prefix_cap"] = prefix_cap(ours, train_set, train_labels, test_set, test_labels, shard, args)
    result["machine"] = machine()
    result["versions"] = {p: version(p) for p in ("numpy", "scikit-learn", "skops", "fasttext-numpy2-wheel")}
    result["versions"]["python"] = platform.python_version()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("heldout", "transfer", "throughput", "prefix_cap")}, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default=str(DATA / "train.parquet"))
    parser.add_argument("--heldout", default=str(DATA / "heldout.parquet"))
    parser.add_argument("--scores", help="influence scores (doc_id, score) for the --train documents")
    parser.add_argument("--fraction", type=float, default=0.2, help="top/bottom fraction with --scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shard-copies", type=int, default=5, help="the throughput shard is the held-out set this many times"
    )
    parser.add_argument("--repeats", type=int, default=5, help="throughput: best of this many timed runs each")
    parser.add_argument("--out", default=str(HERE / "classifier_vs_fasttext.json"))
    return parser.parse_args()


def labelled_sets(args, train_docs, heldout_docs):
    """(train docs, labels), (test docs, labels) and the label rule."""
    if not args.scores:
        rule = {"kind": "proxy-domain", "positive": list(PROXY_POSITIVE), "test": "heldout.parquet"}
        return (
            (train_docs, domain_labels([d.domain for d in train_docs], PROXY_POSITIVE)),
            (heldout_docs, domain_labels([d.domain for d in heldout_docs], PROXY_POSITIVE)),
            rule,
        )
    scores = read_influence_scores(args.scores)
    scored = [d for d in train_docs if d.doc_id in scores.by_id]
    chosen, labels = top_bottom_labels([scores.by_id[d.doc_id] for d in scored], args.fraction)
    docs = [scored[i] for i in chosen.tolist()]
    train, test = grouped_split(labels, [document_group(d.doc_id) for d in docs], 0.2, args.seed)
    rule = {
        "kind": "influence-top-bottom",
        "scores": args.scores,
        "fraction": args.fraction,
        "test": "grouped 20% of the labelled training documents",
    }
    return ([docs[i] for i in train], labels[train]), ([docs[i] for i in test], labels[test]), rule


def fit_both(docs, labels, seed: int):
    ours, _ = train_classifier(
        [d.text for d in docs], labels, [document_group(d.doc_id) for d in docs], [d.domain for d in docs], seed=seed
    )
    return ours, FastText(docs, labels, seed)


def compare(ours, fast, docs, labels, per_domain_mode: str) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    texts, domains = [d.text for d in docs], np.array([d.domain for d in docs])
    scores = {"ours": ours.score(texts), "fasttext": fast.score(texts)}
    out = {
        name: {"auroc": roc_auc_score(labels, s), "average_precision": average_precision_score(labels, s)}
        for name, s in scores.items()
    }
    out["per_domain"] = {}
    for domain in sorted(set(domains.tolist())):
        # influence labels: AUROC within the domain; proxy labels: this domain's documents vs prose.
        mask = domains == domain if per_domain_mode != "proxy-domain" else np.isin(domains, [domain, "prose"])
        if domain == "prose" and per_domain_mode == "proxy-domain" or len(set(labels[mask].tolist())) < 2:
            continue
        out["per_domain"][domain] = {name: roc_auc_score(labels[mask], s[mask]) for name, s in scores.items()}
    if per_domain_mode == "proxy-domain":
        out["per_domain_note"] = "proxy labels: AUROC of each domain's documents against prose"
    return out


def transfer(train_docs, heldout_docs, seed: int) -> dict:
    """Train on prose vs code/LaTeX only; rank unseen markup and records documents against prose."""
    from sklearn.metrics import roc_auc_score

    seen = [d for d in train_docs if d.domain in TRANSFER_TRAIN]
    labels = domain_labels([d.domain for d in seen], ("code", "latex"))
    ours, fast = fit_both(seen, labels, seed)
    linear, _ = train_classifier(
        [d.text for d in seen],
        labels,
        [document_group(d.doc_id) for d in seen],
        seed=seed,
        settings=TrainSettings(candidates=("logistic_regression",)),
    )
    scorers = {"ours": ours, "ours_logistic_only": linear, "fasttext": fast}
    out = {
        "train_domains": list(TRANSFER_TRAIN),
        "unseen_domains": list(TRANSFER_UNSEEN),
        "ours_model": ours.card["model"]["chosen"],
    }
    for domain in TRANSFER_UNSEEN:
        docs = [d for d in heldout_docs if d.domain in (domain, "prose")]
        truth = np.array([d.domain == domain for d in docs], dtype=int)
        texts = [d.text for d in docs]
        out[f"{domain}_vs_prose_auroc"] = {name: roc_auc_score(truth, s.score(texts)) for name, s in scorers.items()}
    return out


def prefix_cap(ours, train_set, train_labels, test_set, test_labels, shard, args) -> dict:
    """The same training on whole documents (their first 100,000 characters) against the default cap."""
    from sklearn.metrics import roc_auc_score

    whole, _ = train_classifier(
        [d.text for d in train_set],
        train_labels,
        [document_group(d.doc_id) for d in train_set],
        seed=args.seed,
        settings=TrainSettings(features=WHOLE_DOCUMENTS),
    )
    texts = [d.text for d in test_set]
    rates = docs_per_second({"capped": ours, "whole": whole}, shard, args.repeats)
    return {
        "max_chars": {"capped": ours.settings.max_chars, "whole": WHOLE_DOCUMENTS.max_chars},
        "heldout_auroc": {
            "capped": roc_auc_score(test_labels, ours.score(texts)),
            "whole": roc_auc_score(test_labels, whole.score(texts)),
        },
        "docs_per_s": rates,
        "speedup_capped_over_whole": rates["capped"] / rates["whole"],
    }


def throughput(ours, fast, texts, repeats: int) -> dict:
    """Docs/s of ours and fastText on the same shard."""
    rates = docs_per_second({"ours": ours, "fasttext": fast}, texts, repeats)
    return {
        "shard_documents": len(texts),
        "shard_mb": round(sum(map(len, texts)) / 1e6, 2),
        "docs_per_s": rates,
        "ratio_ours_over_fasttext": rates["ours"] / rates["fasttext"],
        "threads": os.environ.get("OMP_NUM_THREADS"),
    }


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform(), "load_average": os.getloadavg()}


if __name__ == "__main__":
    main()
