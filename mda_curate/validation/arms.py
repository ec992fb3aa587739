"""Each arm as a training schedule over one seed's formation window.

Every arm branches from the base run's checkpoint at the window start and reads the identical data
order; the arms differ only in their schedule (``mda_curate.training.schedule``):

* ``baseline``: nothing changes;
* ``targeted_removal`` / ``random_removal``: the k highest-influence samples of the window, or k drawn
  uniformly from it, are masked (zero loss weight, the paper's deletion);
* ``targeted_augmentation`` / ``random_augmentation``: the same k samples are duplicated (``copies``
  extra rows each), in their own step, or with ``arms.spread`` at steps spaced evenly across the window
  (:func:`spread_duplicates`);
* ``classifier_upsampling`` / ``random_upsampling``: the curator's path. The window's samples, as a
  shard of documents, go through ``mda-curate curate upsample --top-fraction --factor 1+copies``, scored by
  the catalyst classifier (the seed's ``classifier``, else ``arms.classifier``; no influence needed at
  curation time) or, for the random control, with ``--random`` (the same pipeline and count, documents
  picked by a seeded hash); each copy the pipeline writes is duplicated (:func:`upsampled_samples`);
* with ``arms.displace``, each duplicating arm (the augmentation and upsampling arms) also
  masks ``k * copies`` window samples drawn uniformly from those it does not duplicate (:func:`displaced`):
  over the window it trains on as many rows as the baseline, so augmentation changes which data the
  window holds, not how much, as a curator with a fixed token budget would (without it, random
  duplication also adds data);
* ``synthetic_augmentation``: documents from ``arms.synthetic`` are inserted as extra rows during the
  window, by default ``ceil(k * copies / window steps)`` per step (the augmentation arms' budget);
* ``random_insertion``: the synthetic arm's control: natural documents from ``arms.random_documents``
  (``mda-curate augment control``: random documents with the synthetic set's token count) inserted with
  the synthetic arm's schedule, so it adds the same rows and tokens;
* ``generic_insertion``: the synthetic arm's second control: generic copy data from
  ``arms.generic_documents`` (``mda-curate augment control --generic``: repeated random-word spans with the
  synthetic set's token count, shaped by no mined motif) inserted with the same schedule, so the synthetic
  arm is compared with copy data of the same size as well as with natural text.

Random arms draw their k samples from ``(arms.random_seed, seed)``, so removal and augmentation use the
same random set within a seed, and every seed its own.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mda_curate.errors import UserError
from mda_curate.validation.spec import ExperimentSpec, SeedSpec

UPSAMPLING = ("classifier_upsampling", "random_upsampling")  # the arms curated by `mda-curate curate upsample`
DISPLACED_STREAM = 1  # random_k's stream for displaced samples (the random arms' k use none)
UPSAMPLING_STREAM = 2  # the stream of random_upsampling's hash seed
# the arms that insert documents: arm -> (the arms.<field> naming their file, the command that makes it)
INSERTED_FILES = {
    "synthetic_augmentation": ("synthetic", "mda-curate augment generate"),
    "random_insertion": ("random_documents", "mda-curate augment control"),
    "generic_insertion": ("generic_documents", "mda-curate augment control --generic"),
}


def window_indices(seed: SeedSpec, batch_size: int) -> np.ndarray:
    """Global sample indices ``g = step * batch_size + row`` of the window's steps."""
    start, end = seed.window
    return np.arange(start * batch_size, end * batch_size, dtype=np.int64)


def top_k(indices: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    """The ``k`` indices with the highest scores (ties: the lower index first), sorted by index."""
    from mda_curate.influence.scores import ranked

    order = ranked(scores, keys=indices)
    return sorted(int(g) for g in indices[order[:k]])


def random_k(indices: np.ndarray, k: int, random_seed: int, seed: int, *stream: int) -> list[int]:
    """``k`` indices drawn uniformly without replacement, seeded by ``(random_seed, seed, *stream)``."""
    generator = np.random.default_rng([random_seed, seed, *stream])
    return sorted(int(g) for g in generator.choice(indices, size=k, replace=False))


def displaced(window: np.ndarray, duplicated: list[int], count: int, random_seed: int, seed: int) -> list[int]:
    """``count`` window samples not in ``duplicated``, drawn uniformly (a random stream of their own): the
    rows a displacing augmentation arm masks to keep the baseline's row budget."""
    others = np.setdiff1d(window, duplicated)
    if count > len(others):
        raise UserError(
            f"arms.displace: k * copies = {count} rows to displace, but the window has only {len(others)} samples "
            "besides the k duplicated ones (lower arms.k or arms.copies)"
        )
    return random_k(others, count, random_seed, seed, DISPLACED_STREAM)


def influence_top_k(spec: ExperimentSpec, seed: SeedSpec, k: int) -> list[int]:
    """The window's ``k`` highest-influence samples, after checking the scores belong to this run and window."""
    from mda_curate.influence.scores import read_scores, scored_rows

    name = f"seeds[{spec.seeds.index(seed)}].scores"
    if seed.scores is None:
        raise UserError(f"{spec.source}: {name} is required by the targeted arms ({shlex.join(influence_argv(seed))})")
    check_scores_provenance(seed, name)
    table = read_scores(seed.scores, ("sample_index", "score", "skipped"))
    expected = window_indices(seed, spec.train.batch_size)
    indices = np.asarray(table.column("sample_index").to_pylist(), dtype=np.int64)
    if not np.array_equal(np.sort(indices), expected):
        raise UserError(
            f"{seed.scores}: sample_index spans {indices.min()}..{indices.max()} ({len(indices)} rows), not "
            f"the window's "
            f"{expected[0]}..{expected[-1]} ({len(expected)} samples of steps {seed.window[0]}:{seed.window[1]}); "
            "scores of another run or window are refused"
        )
    valid = scored_rows(table)
    if valid.sum() < k:
        raise UserError(f"{seed.scores}: only {valid.sum()} samples have a score, fewer than k = {k}")
    scores = np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=np.float64)
    return top_k(indices[valid], scores[valid], k)


def check_scores_provenance(seed: SeedSpec, name: str) -> None:
    """The scores' ``arguments.json`` must name this run's samples of this window, this unit and the
    checkpoint it attributes (``influence_step``): by content where the scores recorded it (so that a run
    and its scores copied to another folder still match), else by path."""
    arguments_path = seed.scores.with_name(seed.scores.stem + ".influence") / "arguments.json"
    if not seed.scores.is_file():
        raise UserError(f"{name}: {seed.scores}: no such file (compute it: {shlex.join(influence_argv(seed))})")
    if not arguments_path.is_file():
        raise UserError(f"{name}: {arguments_path}: missing, so the scores' run and window cannot be checked")
    arguments = json.loads(arguments_path.read_text())
    window = f"steps {seed.window[0]}:{seed.window[1]}"
    expected = f"{seed.run.resolve()} {window}"
    model = seed.run / f"step_{seed.attributed_step}"
    by_content = "train_content" in arguments and "model_content" in arguments
    if not str(arguments.get("train")).endswith(f" {window}") or (not by_content and arguments["train"] != expected):
        raise UserError(
            f"{name}: {seed.scores} scores {arguments.get('train')!r}, not this seed's run and window {expected!r}"
        )
    if arguments.get("unit") != seed.unit:
        raise UserError(
            f"{name}: {seed.scores} scores unit {arguments.get('unit')!r}, not this seed's unit {seed.unit!r}"
        )
    if by_content:
        changed = scores_content_change(arguments, seed, model)
        if changed:
            raise UserError(
                f"{name}: {seed.scores} was computed on other data or weights than this seed's run and window "
                f"at {model} (changed {changed})"
            )
    elif Path(arguments.get("model", "")).resolve() != model.resolve():
        raise UserError(
            f"{name}: {seed.scores} attributes the checkpoint {arguments.get('model')!r}, not "
            f"{str(model)!r} (influence_step)"
        )


def scores_content_change(arguments: dict, seed: SeedSpec, model: Path) -> str | None:
    """Where the samples and weights the scores recorded differ from this seed's (None: the same)."""
    from mda_curate.fingerprint import content_change, fingerprint
    from mda_curate.influence.samples import open_samples

    saved = {"train": arguments["train_content"], "model": arguments["model_content"]}
    current = {"train": open_samples(seed.run, steps=seed.window).content, "model": fingerprint([model])}
    return content_change(saved, current)


def influence_argv(seed: SeedSpec) -> list[str]:
    """The ``mda-curate influence`` command that scores this seed's window (without extra settings)."""
    start, end = seed.window
    return [
        "mda-curate",
        "influence",
        "--model",
        str(seed.run / f"step_{seed.attributed_step}"),
        "--train",
        str(seed.run),
        "--steps",
        f"{start}:{end}",
        "--unit",
        seed.unit,
        "--out",
        str(seed.scores or "SCORES.parquet"),
    ]


def sample_texts(order, tokenizer, indices: Sequence[int]) -> list[str]:
    """The decoded text of each global sample index of a run's ``DataOrder``."""
    return [tokenizer.decode(order.sample(int(g)).tolist()) for g in indices]


def upsampled_samples(
    spec: ExperimentSpec, seed: SeedSpec, arm: str, window: np.ndarray, k: int, shard: Path
) -> list[int]:
    """The window samples ``mda-curate curate upsample`` repeats, run as a curator would on ``shard``, the
    window as documents (:func:`write_window_shard`): ``classifier_upsampling`` keeps the top ``k`` by the
    catalyst classifier, ``random_upsampling`` the ``k`` a seeded hash of the id picks (``curate upsample
    --random``), each repeated ``1 + copies`` times into ``<shard's folder>/<arm>/``. Every copy ``g#j`` it
    writes becomes a duplicate row of sample ``g``."""
    from mda_curate.pipelines.recipes import Inputs, Layout, upsample_plan
    from mda_curate.pipelines.run import Launch, run_plan

    folder = shard.parent
    random = arm == "random_upsampling"
    classifier = None if random else check_classifier(spec.classifier(seed))
    factor = 1 + spec.arms.copies
    layout = Layout(str(folder / arm), "parquet")
    hash_seed = int(np.random.default_rng([spec.arms.random_seed, seed.seed, UPSAMPLING_STREAM]).integers(2**31))
    settings = dict(top_fraction=k / len(window), seed=hash_seed, random=random, tasks=1)
    plan = upsample_plan(Inputs.find([str(shard)]), layout, classifier, [(0.0, factor)], **settings)
    run_plan(plan, Launch(workers=1, show_progress=False))
    return repeated_samples(folder / arm, window, spec.arms.copies)


def write_window_shard(path: Path, window: np.ndarray, texts: Sequence[str]) -> Path:
    """The window as a parquet shard of documents (``id`` = the sample index, ``text``); rewritten with
    the same bytes when nothing changed, so the curation pipeline's resume sees the same content."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": [str(int(g)) for g in window], "text": list(texts)})
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial)
    partial.replace(path)
    return path


def repeated_samples(output: Path, window: np.ndarray, copies: int) -> list[int]:
    """The samples the upsampled shard in ``output`` repeats, after checking it holds every window sample
    once and each repeated one ``copies`` more times."""
    from collections import Counter

    import pyarrow.parquet as pq

    ids = [
        i for path in sorted(output.glob("*.parquet")) for i in pq.read_table(path, columns=["id"])["id"].to_pylist()
    ]
    originals = sorted(int(i) for i in ids if "#" not in i)
    extra = Counter(int(i.split("#")[0]) for i in ids if "#" in i)
    if originals != window.tolist() or any(n != copies for n in extra.values()):
        raise UserError(f"{output}: the upsampled shard does not hold the window once plus {copies} copies per repeat")
    return sorted(extra)


def check_classifier(path: Path | None) -> str | None:
    """``path`` as the pipeline takes it, after loading the classifier once (a one-line error here, not a
    failed pipeline task)."""
    try:
        from mda_curate.classifier import load_classifier
    except ImportError as err:
        raise UserError(f"classifier_upsampling: the catalyst classifier is not available ({err})") from None
    load_classifier(path)
    return None if path is None else str(path)


def arm_schedules(
    spec: ExperimentSpec, seed: SeedSpec, arms: Sequence[str], order=None, tokenizer=None, curation=None
) -> dict[str, dict]:
    """The schedule (as a dict for ``Schedule.from_dict``) of every arm in ``arms`` for one seed.

    ``order`` and ``tokenizer`` (the base run's data order and tokenizer) and ``curation`` (the folder of
    the upsampling pipeline's shards) are needed only by the arms in :data:`UPSAMPLING`."""
    settings, batch_size = spec.arms, spec.train.batch_size
    window = window_indices(seed, batch_size)
    k = settings.count(len(window))
    if k > len(window):
        raise UserError(f"{spec.source}: arms.k ({k}) exceeds the {len(window)} samples of seed {seed.seed}'s window")
    chosen: dict[str, list[int]] = {}
    if set(arms) & {"targeted_removal", "targeted_augmentation"}:
        chosen["targeted"] = influence_top_k(spec, seed, k)
    if set(arms) & {"random_removal", "random_augmentation"}:
        chosen["random"] = random_k(window, k, settings.random_seed, seed.seed)
    if upsampling := [arm for arm in UPSAMPLING if arm in arms]:
        shard = write_window_shard(Path(curation) / "window.parquet", window, sample_texts(order, tokenizer, window))
        for arm in upsampling:
            chosen[arm] = upsampled_samples(spec, seed, arm, window, k, shard)

    def duplicate(samples: list[int]) -> dict:
        if settings.spread:
            schedule = {"duplicate": spread_duplicates(samples, seed.window, batch_size, settings.copies)}
        else:
            schedule = {"duplicate": [{"samples": samples, "copies": settings.copies}]}
        if settings.displace:
            schedule["mask"] = displaced(window, samples, k * settings.copies, settings.random_seed, seed.seed)
        return schedule

    builders = {
        "baseline": dict,
        "targeted_removal": lambda: {"mask": chosen["targeted"]},
        "random_removal": lambda: {"mask": chosen["random"]},
        "targeted_augmentation": lambda: duplicate(chosen["targeted"]),
        "random_augmentation": lambda: duplicate(chosen["random"]),
        "classifier_upsampling": lambda: duplicate(chosen["classifier_upsampling"]),
        "random_upsampling": lambda: duplicate(chosen["random_upsampling"]),
        "synthetic_augmentation": lambda: inserted_documents(spec, seed, k, "synthetic_augmentation"),
        "random_insertion": lambda: inserted_documents(spec, seed, k, "random_insertion"),
        "generic_insertion": lambda: inserted_documents(spec, seed, k, "generic_insertion"),
    }
    return {arm: builders[arm]() for arm in arms}


def spread_duplicates(samples: list[int], window: tuple[int, int], batch_size: int, copies: int) -> list[dict]:
    """Duplicate entries placing copy ``j`` (1..copies) of a sample from step ``s`` at step
    ``start + (s - start + j * L // (copies + 1)) mod L`` of the ``L``-step window: the copies come back
    later (wrapping round the window), evenly spaced, so each step gains about as many rows as in
    own-step duplication but never twice the same sample."""
    start, end = window
    length = end - start
    at: dict[int, list[int]] = {}
    for g in samples:
        for j in range(1, copies + 1):
            step = start + (g // batch_size - start + j * length // (copies + 1)) % length
            at.setdefault(step, []).append(g)
    return [{"samples": at[step], "step": step} for step in sorted(at)]


def inserted_documents(spec: ExperimentSpec, seed: SeedSpec, k: int, arm: str) -> dict:
    """The ``arm``'s documents inserted during the window, by default at the augmentation arms' budget."""
    field, maker = INSERTED_FILES[arm]
    path = getattr(spec.arms, field)
    if path is None:
        raise UserError(f"{spec.source}: arms.{field} is required by the {arm} arm (a JSONL/parquet file)")
    if not path.exists():
        raise UserError(f"{spec.source}: arms.{field}: {path}: no such file (make it with `{maker}`)")
    start, end = seed.window
    rows = synthetic_rows_per_step(spec, seed, k)
    return {"insert": [{"path": str(path.resolve()), "start": start, "end": end, "rows_per_step": rows}]}


def synthetic_rows_per_step(spec: ExperimentSpec, seed: SeedSpec, k: int) -> int:
    """``arms.synthetic_rows_per_step``, or the augmentation arms' ``k * copies`` rows spread over the window."""
    start, end = seed.window
    return spec.arms.synthetic_rows_per_step or math.ceil(k * spec.arms.copies / (end - start))
