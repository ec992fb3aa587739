"""The experiment spec: a TOML file, validated into dataclasses and saved beside the results.

Every error names the spec file and the field, e.g. ``spec.toml: seeds[1].window must be [start, end]
with 0 <= start < end <= train.steps (got [7000, 6000])``. Relative paths are taken from ``root``,
itself relative to the spec file's folder (default: that folder)::

    name = "cpu-formation"
    root = "../.."
    recipe = "cpu-formation"                 # mda_curate.training.config.RECIPES; omit for TrainConfig()
    data = ["examples/data/train.parquet"]   # the base runs' data (default: the sample corpus)
    tokenizer = "examples/tokenizer"         # default: the sample tokenizer
    unit = "1.2"                             # the head layer.head, for seeds that do not name their own

    [train]                                  # TrainConfig fields over the recipe (seed: per [[seeds]])
    threads = 1

    [arms]
    run = ["baseline", "targeted_removal", "random_removal"]
    k = 0.1                                  # share of the window's samples (float), or a count (int)
    copies = 1                               # extra copies per augmented sample
    spread = false                           # true: copies spread evenly over the window, not in the sample's own step
    displace = false                         # true: the duplicating arms mask as many other window samples as they add
                                             # rows (the same token budget as the baseline: which data, not how much)
    stop_after_formation = 500               # optional: an arm-run stops this many steps after its first formed
                                             # checkpoint (default: every arm-run trains to until)
    checkpoint_every = 50                    # the arms' checkpoint cadence
    random_seed = 0                          # random arms draw their k samples per (random_seed, seed)
    classifier = "classifiers/catalyst-default"   # optional; default: the package's classifier
    synthetic = "runs/validation/synthetic.jsonl" # documents the synthetic arm inserts
    random_documents = "runs/validation/random.jsonl"  # natural documents the random_insertion arm inserts
    generic_documents = "runs/validation/generic.jsonl"  # generic copy data the generic_insertion arm inserts
    synthetic_rows_per_step = 4              # the inserting arms; default: the k budget spread over the window

    [metrics]                                # all optional
    heldout = "examples/data/heldout.parquet"
    heldout_contexts = 16                    # contexts of ctx tokens per held-out domain
    icl_contexts = 64
    probe_sequences = 32
    probe_lengths = [32, 50]
    confidence = 0.95                        # of the t-intervals over seeds

    [influence]                              # how a missing scores file is made (optional)
    compute = true                           # run `mda-curate influence` for it
    args = ["--factor-samples", "2000"]

    [[seeds]]
    seed = 1                                 # the recipe's seed of this base run
    run = "runs/formation/share0.6_seed1"    # trained up to window start (and influence_step) when missing
    window = [6250, 6500]                    # the formation window, steps start..end-1
    until = 8000                             # arms train to this step (default: train.steps)
    scores = "runs/influence/window_s1.parquet"   # `mda-curate influence` over the window
    influence_step = 6500                    # the checkpoint the scores attribute (default: the window start);
                                             # later than the start when the unit only exists there
    classifier = "runs/classifier/wide_s0"   # optional: this seed's classifier (default: arms.classifier),
                                             # e.g. one trained on another seed's influence labels
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from mda_curate.errors import FieldChecker, FieldError, UserError
from mda_curate.families import UNIT_NAME, parse_unit
from mda_curate.training.config import RECIPES, TrainConfig

ARMS = (
    "baseline",
    "targeted_removal",
    "random_removal",
    "targeted_augmentation",
    "random_augmentation",
    "classifier_upsampling",
    "random_upsampling",
    "synthetic_augmentation",
    "random_insertion",
    "generic_insertion",
)
TARGETED = ("targeted_removal", "targeted_augmentation")
TOP_KEYS = {"name", "root", "recipe", "data", "tokenizer", "unit", "train", "arms", "metrics", "influence", "seeds"}
ARM_KEYS = {
    "run",
    "k",
    "copies",
    "spread",
    "displace",
    "checkpoint_every",
    "stop_after_formation",
    "random_seed",
    "classifier",
    "synthetic",
    "synthetic_rows_per_step",
    "random_documents",
    "generic_documents",
}
SEED_KEYS = {"seed", "run", "window", "until", "unit", "scores", "classifier", "influence_step"}
INFLUENCE_KEYS = {"compute", "args"}


@dataclass(frozen=True)
class SeedSpec:
    """One independent base run: its folder, formation window, unit, influence scores and (optionally) the
    classifier its ``classifier_upsampling`` arm uses instead of ``arms.classifier``."""

    seed: int
    run: Path
    window: tuple[int, int]
    until: int
    unit: str
    scores: Path | None
    classifier: Path | None = None
    influence_step: int | None = None

    @property
    def attributed_step(self) -> int:
        """The checkpoint whose weights the influence scores attribute: ``influence_step`` or the window start."""
        return self.window[0] if self.influence_step is None else self.influence_step

    @property
    def layer_head(self) -> tuple[int, int]:
        return parse_unit(self.unit)


@dataclass(frozen=True)
class ArmSettings:
    run: tuple[str, ...] = ARMS
    k: float | int = 0.1
    copies: int = 1
    spread: bool = False
    displace: bool = False
    checkpoint_every: int = 50
    stop_after_formation: int | None = None
    random_seed: int = 0
    classifier: Path | None = None
    synthetic: Path | None = None
    synthetic_rows_per_step: int | None = None
    random_documents: Path | None = None
    generic_documents: Path | None = None

    def count(self, window_samples: int) -> int:
        """The number of samples k for a window of ``window_samples``."""
        return round(self.k * window_samples) if isinstance(self.k, float) else self.k


@dataclass(frozen=True)
class MetricSettings:
    heldout: Path | None = None  # None: the sample corpus's heldout.parquet
    heldout_contexts: int = 16
    icl_contexts: int = 64
    probe_sequences: int = 32
    probe_lengths: tuple[int, int] = (32, 50)
    confidence: float = 0.95


@dataclass(frozen=True)
class InfluenceCommand:
    compute: bool = False
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment (see the module docstring); ``train`` is the recipe with ``[train]`` applied."""

    name: str
    source: Path
    train: TrainConfig
    data: tuple[Path, ...]
    tokenizer: Path
    arms: ArmSettings
    metrics: MetricSettings
    influence: InfluenceCommand
    seeds: tuple[SeedSpec, ...]

    def config(self, seed: SeedSpec) -> TrainConfig:
        """The base run's training config for ``seed``."""
        return replace(self.train, seed=seed.seed)

    def arm_config(self, seed: SeedSpec) -> TrainConfig:
        """The arms' config: the base run's, checkpointed at the arms' cadence."""
        return replace(self.config(seed), checkpoint_every=self.arms.checkpoint_every)

    def classifier(self, seed: SeedSpec) -> Path | None:
        """The classifier of ``seed``'s ``classifier_upsampling`` arm (None: the package's default)."""
        return seed.classifier or self.arms.classifier

    def to_dict(self) -> dict:
        """JSON-ready (paths as strings); what ``spec.json`` beside the results holds."""
        out = asdict(self)
        out["train"] = self.train.to_dict()
        return _strings(out)


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate a spec file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such spec file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder; give the spec's .toml file") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not a text file ({err.reason} at byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: malformed TOML ({err})") from None
    return parse_spec(data, path)


def write_spec(data: dict, path: str | Path) -> ExperimentSpec:
    """Write the spec whose tables are ``data`` (as :func:`load_spec` reads them) to ``path`` and return it
    validated."""
    path = Path(path)
    path.write_text(spec_toml(data))
    return parse_spec(data, path)


def spec_toml(data: dict) -> str:
    """The TOML text of a spec's tables: top-level values, then ``[table]``s, then ``[[array]]``s of tables."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in data.items() if not _is_table(value)]
    for key, value in data.items():
        for table in [value] if isinstance(value, dict) else value if _is_table(value) else []:
            lines += [f"[{key}]" if isinstance(value, dict) else f"[[{key}]]"]
            lines += [f"{name} = {_toml_value(item)}" for name, item in table.items()]
    return "\n".join(lines) + "\n"


def _is_table(value) -> bool:
    return (
        isinstance(value, dict) or isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")  # a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"a spec value must be a bool, number, string, path or list (got {value!r})")


def parse_spec(data: dict, source: Path) -> ExperimentSpec:
    """Validate the parsed TOML ``data`` of the spec file ``source``."""
    check = _Checker(source)
    check.keys("", data, TOP_KEYS)
    root = (source.parent / check.string("root", data.get("root", "."))).resolve()
    train = _train_config(check, data)
    arms = _arms(check, data.get("arms", {}), root)
    metrics = _metrics(check, data.get("metrics", {}), root)
    influence = _influence(check, data.get("influence", {}))
    default_unit = check.unit("unit", data["unit"]) if "unit" in data else None
    seeds = tuple(
        _seed(check, f"seeds[{i}]", entry, root, train, default_unit)
        for i, entry in enumerate(check.list("seeds", data))
    )
    check.that("seeds", len(seeds) > 0, "must list at least one [[seeds]] entry")
    numbers = [s.seed for s in seeds]
    check.that("seeds", len(set(numbers)) == len(numbers), f"lists a seed twice ({numbers})")
    return ExperimentSpec(
        name=check.string("name", data.get("name", source.stem)),
        source=source.resolve(),
        train=train,
        data=tuple(_paths(check, "data", data, root)),
        tokenizer=_tokenizer(check, data, root),
        arms=arms,
        metrics=metrics,
        influence=influence,
        seeds=seeds,
    )


def parse_arms(text: str, option: str = "--arms") -> tuple[str, ...]:
    """``a,b,...`` → arm names, each checked against :data:`ARMS`."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if name not in ARMS:
            raise UserError(f"{option}: unknown arm {name!r} (arms: {', '.join(ARMS)})")
    if not names:
        raise UserError(f"{option}: name at least one arm")
    return names


def parse_seeds(text: str, spec: ExperimentSpec, option: str = "--seeds") -> tuple[int, ...]:
    """``s,s,...`` → seed numbers, each one of the spec's ``[[seeds]]``."""
    known = [seed.seed for seed in spec.seeds]
    numbers = []
    for part in (part.strip() for part in text.split(",") if part.strip()):
        if not part.lstrip("-").isdigit() or int(part) not in known:
            raise UserError(f"{option}: {part!r} is not a seed of the spec (seeds: {', '.join(map(str, known))})")
        numbers.append(int(part))
    if not numbers:
        raise UserError(f"{option}: name at least one seed")
    return tuple(numbers)


def _train_config(check: _Checker, data: dict) -> TrainConfig:
    recipe = data.get("recipe")
    if recipe is not None and recipe not in RECIPES:
        check.fail("recipe", f"must be one of {', '.join(RECIPES)} (got {recipe!r})")
    overrides = check.table("train", data)
    known = {f.name for f in fields(TrainConfig)}
    for key in overrides:
        check.that(f"train.{key}", key in known, "is not a TrainConfig field")
        check.that("train.seed", key != "seed", "is set per run in [[seeds]], not in [train]")
    try:
        return replace(RECIPES[recipe] if recipe else TrainConfig(), **overrides)
    except FieldError as err:  # "lr: must be > 0": name the spec and the table
        check.fail(f"train.{err.field}", err.problem)


def _arms(check: _Checker, table, root: Path) -> ArmSettings:
    check.that("arms", isinstance(table, dict), "must be a table")
    check.keys("arms", table, ARM_KEYS)
    names = check.list("arms.run", table, "run") if "run" in table else list(ARMS)
    for i, name in enumerate(names):
        check.that(f"arms.run[{i}]", name in ARMS, f"unknown arm {name!r} (arms: {', '.join(ARMS)})")
    check.that("arms.run", len(set(names)) == len(names), "names an arm twice")
    k = table.get("k", ArmSettings.k)
    if isinstance(k, float):
        check.that("arms.k", 0 < k <= 1, f"a share of the window must be in (0, 1] (got {k!r})")
    else:
        check.integer("arms.k", k, 1)
    rows = table.get("synthetic_rows_per_step")
    spread, displace = table.get("spread", False), table.get("displace", False)
    check.that("arms.spread", isinstance(spread, bool), f"must be true or false (got {spread!r})")
    check.that("arms.displace", isinstance(displace, bool), f"must be true or false (got {displace!r})")
    stop = table.get("stop_after_formation")
    return ArmSettings(
        run=tuple(names),
        k=k,
        copies=check.integer("arms.copies", table.get("copies", 1), 1),
        spread=spread,
        displace=displace,
        checkpoint_every=check.integer("arms.checkpoint_every", table.get("checkpoint_every", 50), 1),
        stop_after_formation=None if stop is None else check.integer("arms.stop_after_formation", stop, 0),
        random_seed=check.integer("arms.random_seed", table.get("random_seed", 0), 0),
        classifier=_optional_path(check, "arms.classifier", table.get("classifier"), root),
        synthetic=_optional_path(check, "arms.synthetic", table.get("synthetic"), root),
        synthetic_rows_per_step=None if rows is None else check.integer("arms.synthetic_rows_per_step", rows, 1),
        random_documents=_optional_path(check, "arms.random_documents", table.get("random_documents"), root),
        generic_documents=_optional_path(check, "arms.generic_documents", table.get("generic_documents"), root),
    )


def _metrics(check: _Checker, table, root: Path) -> MetricSettings:
    check.that("metrics", isinstance(table, dict), "must be a table")
    check.keys("metrics", table, {f.name for f in fields(MetricSettings)})
    defaults = MetricSettings()
    counts = {
        name: check.integer(f"metrics.{name}", table.get(name, getattr(defaults, name)), 1)
        for name in ("heldout_contexts", "icl_contexts", "probe_sequences")
    }
    lengths = table.get("probe_lengths", list(defaults.probe_lengths))
    ok = isinstance(lengths, list) and len(lengths) == 2 and all(isinstance(v, int) and v >= 1 for v in lengths)
    check.that(
        "metrics.probe_lengths",
        ok and lengths[0] <= lengths[1],
        f"must be [min, max] with 1 <= min <= max (got {lengths!r})",
    )
    confidence = table.get("confidence", defaults.confidence)
    ok = isinstance(confidence, float) and 0 < confidence < 1
    check.that("metrics.confidence", ok, f"must be a number in (0, 1) (got {confidence!r})")
    heldout = _optional_path(check, "metrics.heldout", table.get("heldout"), root)
    return MetricSettings(heldout=heldout, probe_lengths=tuple(lengths), confidence=confidence, **counts)


def _influence(check: _Checker, table) -> InfluenceCommand:
    check.that("influence", isinstance(table, dict), "must be a table")
    check.keys("influence", table, INFLUENCE_KEYS)
    compute = table.get("compute", False)
    check.that("influence.compute", isinstance(compute, bool), f"must be true or false (got {compute!r})")
    args = check.list("influence.args", table, "args")
    for i, arg in enumerate(args):
        check.that(f"influence.args[{i}]", isinstance(arg, str), f"must be a string (got {arg!r})")
    return InfluenceCommand(compute, tuple(args))


def _seed(check: _Checker, name: str, entry, root: Path, train: TrainConfig, default_unit: str | None) -> SeedSpec:
    check.that(name, isinstance(entry, dict), "must be a table")
    check.keys(name, entry, SEED_KEYS)
    for key in ("seed", "run", "window"):
        check.that(f"{name}.{key}", key in entry, "is required")
    window = entry["window"]
    ok = (
        isinstance(window, list)
        and len(window) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in window)
    )
    ok = ok and 0 <= window[0] < window[1] <= train.steps
    check.that(
        f"{name}.window",
        ok,
        f"must be [start, end] with 0 <= start < end <= train.steps ({train.steps}) (got {window!r})",
    )
    until = check.integer(f"{name}.until", entry.get("until", train.steps), window[1])
    ends = f"must be at most train.steps ({train.steps}): the data order ends there (got {until})"
    check.that(f"{name}.until", until <= train.steps, ends)
    check.that(f"{name}.unit", "unit" in entry or default_unit is not None, "is required (or a top-level unit)")
    influence_step = entry.get("influence_step")
    if influence_step is not None:
        check.integer(f"{name}.influence_step", influence_step, window[0])
        check.that(
            f"{name}.influence_step",
            influence_step <= train.steps,
            f"must be at most train.steps ({train.steps}) (got {influence_step})",
        )
    return SeedSpec(
        seed=check.integer(f"{name}.seed", entry["seed"], 0),
        run=root / check.string(f"{name}.run", entry["run"]),
        window=(window[0], window[1]),
        until=until,
        unit=check.unit(f"{name}.unit", entry["unit"]) if "unit" in entry else default_unit,
        scores=_optional_path(check, f"{name}.scores", entry.get("scores"), root),
        classifier=_optional_path(check, f"{name}.classifier", entry.get("classifier"), root),
        influence_step=influence_step,
    )


def _paths(check: _Checker, name: str, data: dict, root: Path) -> list[Path]:
    if name not in data:
        from mda_curate.resources import sample_corpus_dir

        return [sample_corpus_dir() / "train.parquet"]
    values = check.list(name, data)
    check.that(name, len(values) > 0, "must name at least one file or folder")
    return [root / check.string(f"{name}[{i}]", v) for i, v in enumerate(values)]


def _tokenizer(check: _Checker, data: dict, root: Path) -> Path:
    if "tokenizer" not in data:
        from mda_curate.resources import sample_tokenizer_dir

        return sample_tokenizer_dir()
    return root / check.string("tokenizer", data["tokenizer"])


def _optional_path(check: _Checker, name: str, value, root: Path) -> Path | None:
    return None if value is None else root / check.string(name, value)


def _strings(value):
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strings(v) for v in value]
    return str(value) if isinstance(value, Path) else value


class _Checker(FieldChecker):
    """Validation helpers whose errors name the spec file and the field."""

    def table(self, name: str, data: dict) -> dict:
        value = data.get(name, {})
        self.that(name, isinstance(value, dict), "must be a table")
        return value

    def list(self, name: str, data: dict, key: str | None = None) -> list:
        value = data.get(key or name, [])
        self.that(name, isinstance(value, list), f"must be a list (got {value!r})")
        return value

    def string(self, name: str, value) -> str:
        self.that(name, isinstance(value, str) and value != "", f"must be a non-empty string (got {value!r})")
        return value

    def integer(self, name: str, value, lo: int) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo
        self.that(name, ok, f"must be an integer >= {lo} (got {value!r})")
        return value

    def unit(self, name: str, value) -> str:
        self.that(
            name,
            isinstance(value, str) and UNIT_NAME.fullmatch(value) is not None,
            f"must be 'layer.head', e.g. '1.2' (got {value!r})",
        )
        return value
