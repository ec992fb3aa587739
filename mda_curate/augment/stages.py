"""The three files of mechanistic augmentation, each written by one function (``mda-curate augment mine``,
``generate`` and ``control`` call them, and so does the demo), with its progress bar and summary table:

* :func:`mine_profile`: the motif profile of the top- against the bottom-influence samples of a scores file;
* :func:`generate_documents`: synthetic documents with a profile's motifs, to a token budget;
* :func:`draw_control`: random natural documents with as many tokens as a synthetic set;
  :func:`draw_generic_control`: generic copy data with as many.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mda_curate.augment.generators import GenerationSettings
from mda_curate.augment.profile import MiningSettings, MotifProfile
from mda_curate.augment.settings import DEFAULT_DOC_TOKENS
from mda_curate.errors import FieldError, UserError


def mine_profile(
    scores: str | Path,
    out: str | Path,
    run: str | None = None,
    steps: tuple[int, int] | None = None,
    data: str | None = None,
    top_fraction: float = 0.1,
    bottom_fraction: float | None = None,
    tokenizer: str | None = None,
    settings: MiningSettings | None = None,
) -> MotifProfile:
    """Mine the profile of the top ``top_fraction`` of ``scores`` against its bottom ``bottom_fraction`` (default:
    the same) and save it to ``out``. The samples are a training run's (``run``, the scored window ``steps``;
    scores keyed by ``sample_index``) or a document file's (``data``; keyed by ``doc_id``); texts are read with
    ``tokenizer`` (default: the run's; with ``data``, none: word units)."""
    from mda_curate.augment.extremes import select_extremes
    from mda_curate.augment.profile import mine_motifs
    from mda_curate.augment.sources import document_texts, run_tokenizer, run_tokens
    from mda_curate.console import console, progress

    if bool(run) == bool(data):
        raise UserError("give either a training run (with its scored steps) or a document file (data), not both")
    if run and not steps:
        raise FieldError("steps", "is required with a run: the window the scores cover, A:B")
    bottom_fraction = top_fraction if bottom_fraction is None else bottom_fraction
    selection = select_extremes(scores, "sample_index" if run else "doc_id", top_fraction, bottom_fraction)
    tokenizer_dir = tokenizer or (run_tokenizer(run) if run else None)
    if run:
        with console.status(f"reading {len(selection.top_keys) + len(selection.bottom_keys)} samples of {run}"):
            top, bottom = run_tokens(run, steps, selection.top_keys), run_tokens(run, steps, selection.bottom_keys)
    else:
        top, bottom = document_texts(data, selection.top_keys), document_texts(data, selection.bottom_keys)
    source = {
        "scores": str(scores),
        "run": run,
        "steps": f"{steps[0]}:{steps[1]}" if steps else None,
        "data": data,
        "tokenizer": tokenizer_dir,
        "scored_rows": selection.rows,
        "top_fraction": top_fraction,
        "bottom_fraction": bottom_fraction,
        "top_scores": _range(selection.top_scores),
        "bottom_scores": _range(selection.bottom_scores),
    }
    loaded = load_tokenizer(tokenizer_dir)
    with progress() as bar:
        task = bar.add_task("mining motifs", total=len(top) + len(bottom))
        profile = mine_motifs(
            top, bottom, loaded, settings or MiningSettings(), source, on_document=lambda: bar.advance(task)
        )
    examples = [{**e, "key": _key(selection, e), "score": _score(selection, e)} for e in profile.examples]
    profile = replace(profile, examples=examples)
    profile.save(out)
    print_profile(profile)
    console.print(f"wrote {out}")
    return profile


def generate_documents(
    profile: str | Path, out: str | Path, settings: GenerationSettings, tokenizer: str | None = None
) -> tuple[int, int]:
    """Write synthetic documents with the saved ``profile``'s motifs to ``out``, up to ``settings.tokens``
    tokens (counted with ``tokenizer``, else estimated); returns (documents, tokens)."""
    from collections import Counter

    from mda_curate.augment.generators import TokenCounter, generate
    from mda_curate.augment.insertion import write_documents
    from mda_curate.console import console, progress, table

    motif_profile = MotifProfile.load(profile)
    loaded = load_tokenizer(tokenizer)
    kinds, kind_tokens = Counter(), Counter()
    with progress() as bar:
        task = bar.add_task("generating tokens", total=settings.tokens)

        def tally(stream):
            for record in stream:
                kinds[record["motif"]] += 1
                kind_tokens[record["motif"]] += record["n_tokens"]
                bar.advance(task, record["n_tokens"])
                yield record

        docs, tokens = write_documents(tally(generate(motif_profile, settings, loaded)), out)
    rows = [[kind, kinds[kind], kind_tokens[kind]] for kind in sorted(kinds)]
    console.print(table(f"synthetic documents in {out}", ["motif", "documents", "tokens"], rows))
    counting = TokenCounter(loaded, settings.chars_per_token).describe()
    console.print(f"{docs} documents, {tokens} tokens of a budget of {settings.tokens} ({counting})")
    return docs, tokens


def draw_control(
    synthetic: str | Path,
    corpus: list[str],
    out: str | Path,
    seed: int = 0,
    tokenizer: str | None = None,
    chars_per_token: float = 4.0,
    domains: list[str] | None = None,
) -> tuple[int, int]:
    """Write to ``out`` documents of ``corpus`` (of ``domains``, default all) in a seeded random order until they
    hold as many tokens as ``synthetic`` (the last one cut to fit); returns (documents, tokens)."""
    from mda_curate.augment.generators import TokenCounter
    from mda_curate.augment.insertion import count_tokens, random_documents, write_documents
    from mda_curate.console import console

    counter = TokenCounter(load_tokenizer(tokenizer), chars_per_token)
    synthetic_docs, tokens = count_tokens(synthetic, counter)
    with console.status(f"drawing {tokens} tokens of random documents"):
        docs, written = write_documents(random_documents(corpus, tokens, seed, counter, domains), out)
    console.print(
        f"wrote {out}: {docs} random documents, {written} tokens (synthetic: {synthetic_docs} documents, "
        f"{tokens} tokens; {counter.describe()})"
    )
    return docs, written


def draw_generic_control(
    synthetic: str | Path,
    out: str | Path,
    seed: int = 0,
    tokenizer: str | None = None,
    chars_per_token: float = 4.0,
    doc_tokens: int = DEFAULT_DOC_TOKENS,
) -> tuple[int, int]:
    """Write to ``out`` generic copy data (repeated random-word spans) with as many tokens as ``synthetic``;
    returns (documents, tokens)."""
    from mda_curate.augment.generators import TokenCounter
    from mda_curate.augment.insertion import count_tokens, generic_copy_documents, write_documents
    from mda_curate.console import console

    counter = TokenCounter(load_tokenizer(tokenizer), chars_per_token)
    synthetic_docs, tokens = count_tokens(synthetic, counter)
    docs, written = write_documents(generic_copy_documents(tokens, seed, counter, doc_tokens), out)
    console.print(
        f"wrote {out}: {docs} generic copy documents, {written} tokens (synthetic: {synthetic_docs} documents, "
        f"{tokens} tokens; {counter.describe()})"
    )
    return docs, written


def load_tokenizer(folder: str | None):
    """The tokenizer of ``folder``, or None (count words, or estimate tokens from characters)."""
    if folder is None:
        return None
    from mda_curate.models import load_tokenizer as load

    return load(folder)


def print_profile(profile: MotifProfile) -> None:
    from mda_curate.console import console, table

    rows = [[name, *("-" if v is None else v for v in values)] for name, *values in profile.contrast()]
    console.print(table("motif profile: top vs bottom influence", ["measure", "top", "bottom"], rows))
    top_motifs = [[length, copies, distance, n] for length, copies, distance, n in profile.top.repeats["motifs"][:5]]
    console.print(table("most frequent top motifs", ["length", "copies", "distance", "count"], top_motifs))


def _range(scores: list[float]) -> list[float] | None:
    return [min(scores), max(scores)] if scores else None


def _key(selection, example: dict):
    keys = selection.top_keys if example["set"] == "top" else selection.bottom_keys
    return keys[example["rank"]]


def _score(selection, example: dict) -> float:
    scores = selection.top_scores if example["set"] == "top" else selection.bottom_scores
    return scores[example["rank"]]
