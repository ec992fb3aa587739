"""Settings of a training run as validated dataclasses: model presets and the training recipe.

Every field carries its help; every validation error is a :class:`~mda_curate.errors.FieldError` naming
the field, e.g. ``lr: must be > 0 (got -1.0)``. ``mda-curate train`` builds its flags from the fields
(``batch_size`` is ``--batch-size``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from mda_curate.errors import SETTINGS, UserError
from mda_curate.families import check_model_type

LR_SCHEDULES = ("constant", "cosine")
DTYPES = ("float32", "bfloat16")
LOG_SPACED_CHECKPOINTS = tuple(2**k for k in range(10))  # 1, 2, 4, ..., 512 as Pythia
RUNTIME_FIELDS = ("device", "threads", "log_every")  # may change on --resume without changing the result


@dataclass(frozen=True)
class ModelPreset:
    """A model shape of one family (``mda_curate.families``): GPT-NeoX, or a Llama-style ``llama``/``olmo2``
    with ``kv_heads`` key/value heads (grouped-query attention; ``None``: one per query head). Llama-style
    models rotate every head dimension and add the residuals in sequence, so they take ``rotary_pct=1.0``
    and ``parallel_residual=False``. ``vocab_size=None`` takes the tokenizer's vocabulary."""

    name: str
    num_layers: int
    hidden_size: int
    num_heads: int
    context_length: int
    rotary_pct: float
    parallel_residual: bool
    vocab_size: int | None = None
    family: str = "gpt_neox"
    kv_heads: int | None = None

    def __post_init__(self):
        check_model_type(self.family, f"preset {self.name!r}")
        if self.family != "gpt_neox" and (self.rotary_pct != 1.0 or self.parallel_residual):
            raise UserError(
                f"preset {self.name!r}: a {self.family} model needs rotary_pct=1.0 and parallel_residual=False"
            )
        if self.family == "gpt_neox" and self.kv_heads is not None:
            raise UserError(f"preset {self.name!r}: GPT-NeoX has no grouped KV heads (kv_heads must be None)")
        if self.kv_heads is not None and self.num_heads % self.kv_heads:
            raise UserError(
                f"preset {self.name!r}: num_heads {self.num_heads} is not a multiple of kv_heads {self.kv_heads}"
            )

    def build_config(self, vocab_size: int | None = None, context_length: int | None = None):
        """The transformers config of this preset; ``vocab_size``/``context_length`` override the preset's."""
        vocab = vocab_size or self.vocab_size
        if vocab is None:
            raise UserError(f"preset {self.name!r}: needs a vocab_size (the tokenizer's)")
        shape = {
            "vocab_size": vocab,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "intermediate_size": 4 * self.hidden_size,
            "max_position_embeddings": context_length or self.context_length,
            "tie_word_embeddings": False,
            "attention_dropout": 0.0,
            "bos_token_id": 0,
            "eos_token_id": 0,
        }
        if self.family != "gpt_neox":
            from transformers import AutoConfig

            rope = {"rope_type": "default", "rope_theta": 10000.0}
            return AutoConfig.for_model(
                self.family, **shape, num_key_value_heads=self.kv_heads or self.num_heads, rope_parameters=rope
            )
        from transformers import GPTNeoXConfig

        return GPTNeoXConfig(
            **shape,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": self.rotary_pct},
            use_parallel_residual=self.parallel_residual,
            hidden_dropout=0.0,
        )


PRESETS = {
    preset.name: preset
    for preset in (
        # The CPU formation-window model (docs/formation.md): sequential residual, full rotary.
        ModelPreset("cpu-tiny", 2, 128, 4, 128, rotary_pct=1.0, parallel_residual=False),
        # cpu-tiny with a third layer: forms a head at catalyst share 0.3 (seed 1, step ~14,400), cpu-tiny none.
        ModelPreset("cpu-tiny-3l", 3, 128, 4, 128, rotary_pct=1.0, parallel_residual=False),
        # Pythia's shapes (Biderman et al. 2023): GPT-NeoX-20B vocabulary padded to 50304.
        ModelPreset("pythia-14m", 6, 128, 4, 2048, rotary_pct=0.25, parallel_residual=True, vocab_size=50304),
        ModelPreset("pythia-70m", 6, 512, 8, 2048, rotary_pct=0.25, parallel_residual=True, vocab_size=50304),
        ModelPreset("pythia-160m", 12, 768, 12, 2048, rotary_pct=0.25, parallel_residual=True, vocab_size=50304),
        # cpu-tiny's size in Llama's architecture (RMSNorm, SwiGLU, full rotary), 4 query heads on 2 KV heads.
        ModelPreset("llama-tiny", 2, 128, 4, 128, rotary_pct=1.0, parallel_residual=False, family="llama", kv_heads=2),
        # llama-tiny with a third layer, as cpu-tiny-3l: room for a previous-token head below an induction head.
        ModelPreset(
            "llama-tiny-3l", 3, 128, 4, 128, rotary_pct=1.0, parallel_residual=False, family="llama", kv_heads=2
        ),
        # For a GPU. Pico-shaped: Llama blocks with 12 query heads sharing 4 KV heads, 12 layers, ctx 2048.
        *(
            ModelPreset(name, 12, width, 12, 2048, rotary_pct=1.0, parallel_residual=False, family="llama", kv_heads=4)
            for name, width in (("pico-tiny", 96), ("pico-small", 384))
        ),
        # OLMo 2's blocks (QK-norm across all heads, norms after attention and MLP) at pythia-70m's size.
        ModelPreset("olmo2-70m", 6, 512, 8, 2048, rotary_pct=1.0, parallel_residual=False, family="olmo2"),
    )
}


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe. Defaults are the model and optimiser side of the CPU formation-window
    recipe (docs/formation.md); its data side is ``catalyst_share=0.6`` with
    ``mix={"prose": 15, "code": 10, "latex": 7.5, "markup": 7.5}``.

    ``mix`` gives relative weights of corpus domains (``None``: natural proportions by token count;
    domains left out are not used); ``catalyst_share`` is the absolute share of synthetic
    ``repeated_spans`` samples, the domains sharing the rest. Checkpoints are saved at step 0, at the
    log-spaced steps 1, 2, 4, ..., 512, every ``checkpoint_every`` steps and at the last step. The cosine
    ``lr_schedule`` reaches 10% of ``lr`` at the last step; ``bfloat16`` autocasts the forward pass over float32
    master weights.
    """

    preset: str = field(default="cpu-tiny", metadata={"help": "model shape"})
    context_length: int | None = field(
        default=None, metadata={"help": "tokens per sample (default: the preset's; 128 for cpu-tiny)"}
    )
    vocab_size: int | None = field(
        default=None, metadata={"help": "model vocabulary (default: the preset's; the tokenizer's for cpu-tiny)"}
    )
    steps: int = field(default=1000, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=32, metadata={"help": "samples per step"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    warmup_steps: int = field(default=100, metadata={"help": "linear warm-up steps"})
    lr_schedule: str = field(default="constant", metadata={"help": "after warm-up: constant, or cosine to 10% of lr"})
    betas: tuple[float, float] = field(default=(0.9, 0.95), metadata={"help": "AdamW betas"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient-norm clip"})
    seed: int = field(default=0, metadata={"help": "seed of the data order, the catalyst and the initialisation"})
    mix: dict[str, float] | None = field(
        default=None,
        metadata={
            "help": "relative weights of the data's domains, e.g. prose=15,code=10 (default: proportional to tokens; "
            "unnamed domains are left out)"
        },
    )
    catalyst_share: float = field(default=0.0, metadata={"help": "share of synthetic repeated-span samples"})
    checkpoint_every: int = field(
        default=1000, metadata={"help": "checkpoint every N steps, besides steps 0, 1, 2, 4, ..., 512 and the last"}
    )
    log_every: int = field(default=10, metadata={"help": "log the mean loss every N steps"})
    device: str = field(default="cpu", metadata={"help": "torch device: cpu or cuda"})
    dtype: str = field(default="float32", metadata={"help": "float32, or bfloat16 autocast"})
    threads: int | None = field(
        default=None,
        metadata={
            "help": "CPU threads (default: torch's, i.e. OMP_NUM_THREADS or the physical cores; on a shared machine "
            "fewer threads than cores avoids a collapse)"
        },
    )

    def __post_init__(self):
        check = SETTINGS
        check.choice("preset", self.preset, list(PRESETS))
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            check.require(name, getattr(self, name), lambda v: isinstance(v, int) and v > 0, "a positive integer")
        for name in ("context_length", "vocab_size", "threads"):
            value = getattr(self, name)
            check.require(name, value, lambda v: v is None or (isinstance(v, int) and v > 0), "a positive integer")
        check.require("warmup_steps", self.warmup_steps, lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")
        check.require("lr", self.lr, lambda v: v > 0, "> 0")
        check.require("weight_decay", self.weight_decay, lambda v: v >= 0, ">= 0")
        check.require("grad_clip", self.grad_clip, lambda v: v > 0, "> 0")
        check.require("catalyst_share", self.catalyst_share, lambda v: 0 <= v <= 1, "in [0, 1]")
        check.require(
            "betas", self.betas, lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "two numbers in [0, 1)"
        )
        check.choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check.choice("dtype", self.dtype, DTYPES)
        if self.mix is not None:
            for domain, share in self.mix.items():
                check.require(f"mix[{domain}]", share, lambda v: v >= 0, ">= 0")
            check.require("mix", self.mix, lambda m: sum(m.values()) > 0, "a mix with a positive share")
        object.__setattr__(self, "betas", tuple(self.betas))

    @property
    def model_preset(self) -> ModelPreset:
        return PRESETS[self.preset]

    @property
    def ctx(self) -> int:
        """Tokens per training sequence (inputs); windows hold ``ctx + 1`` tokens."""
        return self.context_length or self.model_preset.context_length

    def checkpoint_steps(self) -> set[int]:
        """The steps (optimizer updates done) after which a checkpoint is saved."""
        regular = range(0, self.steps + 1, self.checkpoint_every)
        return {s for s in (*LOG_SPACED_CHECKPOINTS, *regular, self.steps) if s <= self.steps}

    def to_dict(self) -> dict:
        out = asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"train config: unknown field {unknown[0]!r}")
        return cls(**values)

    def differences(self, other: TrainConfig) -> list[str]:
        """Fields (other than runtime ones) whose values differ, as ``name: old -> new``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [
            f"{name}: {mine[name]!r} -> {theirs[name]!r}"
            for name in mine
            if name not in RUNTIME_FIELDS and mine[name] != theirs[name]
        ]


# Named recipes (``mda-curate train --recipe NAME``; flags given explicitly override them).
# ``cpu-formation``: the CPU formation-window recipe (docs/formation.md; measured on the
# shipped sample corpus in benchmarks/formation_window/formation_window.json): 60% synthetic repeated-span samples, the
# known catalyst share, and natural prose, code, LaTeX and markup; cpu-tiny, lr 1e-3 after 100 warm-up steps.
RECIPES = {
    "cpu-formation": TrainConfig(
        preset="cpu-tiny",
        steps=8000,
        catalyst_share=0.6,
        mix={"prose": 15, "code": 10, "latex": 7.5, "markup": 7.5},
        checkpoint_every=250,
        log_every=50,
        seed=1,
    ),
    # ``natural-formation``: natural documents only (no synthetic windows), a mix rich in in-context repetition,
    # context 256, and cpu-tiny-3l at lr 3e-3. Its induction head L2H0 forms on the previous-token head L1H0 at
    # step ~5,900 of seed 3 (benchmarks/natural_formation/README.md); two layers at lr 1e-3 form none in 9,750.
    "natural-formation": TrainConfig(
        preset="cpu-tiny-3l",
        context_length=256,
        steps=24000,
        lr=3e-3,
        mix={"records": 40, "latex": 20, "markup": 20, "code": 10, "prose": 10},
        checkpoint_every=250,
        log_every=50,
        seed=3,
    ),
}
