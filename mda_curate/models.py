"""Load a causal LM of a supported family (``mda_curate.families``: GPT-NeoX/Pythia, Llama, OLMo 2, Qwen2)
and its tokenizer from a local folder or the Hugging Face hub.

Every failure a user can cause (a folder without a model, another architecture, a hub id or revision
that is not available offline) raises a one-line :class:`~mda_curate.errors.UserError`.
"""

from __future__ import annotations

from pathlib import Path

from mda_curate.errors import UserError
from mda_curate.families import check_model_type

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def load_causal_lm(model: str, revision: str | None = None, device: str = "cpu", tokenizer_from: str | None = None):
    """Return ``(model, tokenizer)`` for a local folder or a hub id (at ``revision``, e.g. ``"step1000"``).

    The model is loaded in float32, in eval mode, on ``device``. ``tokenizer_from`` loads the tokenizer
    from another folder or id (for checkpoints saved without one).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    _check_local_folder(model, revision)
    config = _hub_call(AutoConfig.from_pretrained, model, revision)
    check_model_type(config.model_type, model)
    tokenizer = load_tokenizer(tokenizer_from or model, None if tokenizer_from else revision)
    lm = _hub_call(AutoModelForCausalLM.from_pretrained, model, revision, dtype=torch.float32)
    return lm.to(device).eval(), tokenizer


def load_tokenizer(model: str, revision: str | None = None):
    """Return the tokenizer stored with ``model`` (folder or hub id)."""
    from transformers import AutoTokenizer

    _require_existing_path(model)
    if Path(model).is_dir() and not has_tokenizer(model):
        raise UserError(f"{model}: no tokenizer here (tokenizer.json or tokenizer_config.json is needed)")
    return _hub_call(AutoTokenizer.from_pretrained, model, revision, what="tokenizer")


def has_model(folder: str | Path) -> bool:
    """Whether ``folder`` holds a saved model (config.json and weights)."""
    folder = Path(folder)
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)


def has_tokenizer(folder: str | Path) -> bool:
    """Whether ``folder`` holds saved tokenizer files."""
    return any((Path(folder) / name).is_file() for name in TOKENIZER_FILES)


def _check_local_folder(model: str, revision: str | None) -> None:
    path = Path(model)
    _require_existing_path(model)
    if not path.exists():
        return  # a hub id
    if revision is not None:
        raise UserError(f"{model}: a revision applies to hub ids, not to local folders")
    if not path.is_dir() or not has_model(path):
        raise UserError(f"{model}: no model here (a folder with config.json and model weights is needed)")


def _require_existing_path(model: str) -> None:
    """A name that can only be a path (not a hub id) must exist."""
    if model.startswith(("/", ".", "~")) and not Path(model).expanduser().exists():
        raise UserError(f"{model}: no such folder")


def _hub_call(loader, model: str, revision: str | None, what: str = "model", **kwargs):
    try:
        return loader(model, revision=revision, **kwargs)
    except (OSError, ValueError) as err:
        if Path(model).is_dir():
            raise UserError(f"{model}: cannot load the {what} ({_first_line(err)})") from None
        at = f" at revision {revision!r}" if revision else ""
        raise UserError(
            f"{model}{at}: no such local folder, and not on the Hugging Face hub or in its offline cache: "
            f"{_first_line(err)}"
        ) from None


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
