"""The settings of motif mining and document generation: numpy-free, so that the command line builds its flags
from them without importing the heavy modules that use them."""

from __future__ import annotations

from dataclasses import dataclass, field

from mda_curate.errors import SETTINGS

DEFAULT_CHARS_PER_TOKEN = 4.0  # the usual rule of thumb for English BPE; the shipped 1024-token BPE packs fewer
MIN_DOC_TOKENS = 16
DEFAULT_DOC_TOKENS = 128


@dataclass(frozen=True)
class MiningSettings:
    """How documents are mined; recorded in the profile."""

    min_length: int = field(default=5, metadata={"help": "shortest repeat span counted, in tokens"})
    max_distance: int = field(default=1024, metadata={"help": "farthest earlier occurrence looked for"})
    examples: int = field(
        default=6, metadata={"help": "top documents quoted in the profile (and half as many bottom ones)"}
    )

    def __post_init__(self):
        for name, low in (("min_length", 2), ("max_distance", 1), ("examples", 0)):
            value = getattr(self, name)
            SETTINGS.require(name, value, lambda v, low=low: _integer(v) and v >= low, f"an integer >= {low}")


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class GenerationSettings:
    """``tokens``: the budget; the total never exceeds it and falls short only by what no further document
    fits into (less than ``doc_tokens`` in the tests). ``doc_tokens``: the size documents are filled to
    (default: the profile's median top sample, else ``DEFAULT_DOC_TOKENS``); repeat documents end with
    a whole motif and may run past it by less than one. ``chars_per_token`` is used only without a tokenizer."""

    tokens: int = field(metadata={"help": "token budget"})
    seed: int = field(default=0, metadata={"help": "seed"})
    doc_tokens: int | None = field(
        default=None, metadata={"help": "tokens per document (default: the profile's median top sample)"}
    )
    chars_per_token: float = field(
        default=DEFAULT_CHARS_PER_TOKEN,
        metadata={"help": "characters per token, to estimate token counts without a tokenizer"},
    )

    def __post_init__(self):
        check = SETTINGS
        check.require("tokens", self.tokens, lambda v: isinstance(v, int) and v >= 0, "a non-negative integer")
        at_least = f"at least {MIN_DOC_TOKENS}"
        check.require("doc_tokens", self.doc_tokens, lambda v: v is None or v >= MIN_DOC_TOKENS, at_least)
        check.require("chars_per_token", self.chars_per_token, lambda v: v > 0, "> 0")
