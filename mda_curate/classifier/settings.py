"""The settings of the catalyst classifier's features and training: numpy-free, so that the command line builds
its flags from them without importing numpy or scikit-learn."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mda_curate.errors import SETTINGS

CANDIDATES = ("logistic_regression", "hist_gradient_boosting")


@dataclass(frozen=True)
class FeatureSettings:
    """What to measure; stored in the model card so a loaded classifier computes the same features."""

    max_chars: int = field(
        default=3072,
        metadata={
            "help": "read only each document's first N characters, in training and whenever the classifier scores "
            "(lower scores faster: see benchmarks/pipeline_overhead/)"
        },
    )
    char_ngrams: tuple[int, ...] = field(
        default=(16,), metadata={"help": "byte n-gram lengths for long-range repetition"}
    )
    word_ngrams: tuple[int, ...] = field(default=(3, 8), metadata={"help": "whitespace-token n-gram lengths"})
    min_distance_chars: int = field(
        default=128, metadata={"help": "an n-gram recurs if its first occurrence is more than this many bytes back"}
    )
    min_distance_words: int = field(default=32, metadata={"help": "... or this many tokens back"})
    hashed_ngram: int = field(default=4, metadata={"help": "byte n-gram length of the hashed features"})
    hashed_dims: int = field(default=1024, metadata={"help": "number of hash buckets (a power of two; 0 disables)"})
    zlib_level: int = field(default=1, metadata={"help": "zlib compression level of the compressibility feature"})
    zlib_bytes: int = field(
        default=0,
        metadata={
            "help": "if > 0, compressibility is measured on the first zlib_bytes bytes (off: it costs as "
            "much as the rest)"
        },
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "char_ngrams", tuple(self.char_ngrams))
        object.__setattr__(self, "word_ngrams", tuple(self.word_ngrams))
        check = SETTINGS
        check.require("max_chars", self.max_chars, lambda v: 1 <= v <= 1_000_000, "in 1..1000000")
        for name in ("char_ngrams", "word_ngrams"):
            check.require(name, getattr(self, name), lambda v: all(n >= 1 for n in v), "lengths of at least 1")
        check.require("hashed_ngram", self.hashed_ngram, lambda v: v >= 1, "at least 1")
        for name in ("min_distance_chars", "min_distance_words"):
            check.require(name, getattr(self, name), lambda v: v >= 0, "at least 0")
        check.require("hashed_dims", self.hashed_dims, lambda v: not v & (v - 1), "a power of two or 0")
        check.require("zlib_level", self.zlib_level, lambda v: 0 <= v <= 9, "in 0..9")
        check.require("zlib_bytes", self.zlib_bytes, lambda v: v == 0 or v >= 64, "0 (no zlib feature) or at least 64")

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TrainSettings:
    """Split, candidate models and features of a training run."""

    validation_fraction: float = field(default=0.2, metadata={"help": "share of source documents held out"})
    candidates: tuple[str, ...] = field(default=CANDIDATES, metadata={"help": "the models fitted and compared"})
    features: FeatureSettings = field(default_factory=FeatureSettings, metadata={"help": "what to measure"})
    batch_size: int = field(default=256, metadata={"help": "documents per feature batch"})
    simpler_margin: float = field(
        default=0.005, metadata={"help": "keep the first (simpler) candidate unless another beats its AUROC by more"}
    )

    def __post_init__(self) -> None:
        SETTINGS.require("validation_fraction", self.validation_fraction, lambda v: 0 < v < 1, "in (0, 1)")
        SETTINGS.require(
            "candidates", self.candidates, lambda v: v and set(v) <= set(CANDIDATES), f"among {', '.join(CANDIDATES)}"
        )
