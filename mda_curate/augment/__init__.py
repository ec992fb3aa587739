"""Mechanistic data augmentation: mine the motifs of top-influence samples, generate synthetic catalyst
documents with those motifs, and schedule their insertion into training (with a matched random control).

    profile = mine_motifs(top_texts_or_tokens, bottom_texts_or_tokens, tokenizer)
    write_documents(generate(profile, GenerationSettings(tokens=1_000_000, seed=0), tokenizer), "synthetic.jsonl")
    write_schedule(insertion_schedule("synthetic.jsonl", start=6250, rows_per_step=4), "schedule.json")
"""

import importlib

_HOMES = {
    "mda_curate.augment.generators": (
        "TokenCounter",
        "generate",
        "item_list",
        "key_values",
        "latex_table",
        "log_lines",
        "repeated_spans_text",
        "word_pool",
        "xml_records",
    ),
    "mda_curate.augment.insertion": ("insertion_schedule", "random_documents", "write_documents", "write_schedule"),
    "mda_curate.augment.profile": ("MotifProfile", "SetProfile", "mine_motifs"),
    "mda_curate.augment.repeats": ("Motif", "find_motifs"),
    "mda_curate.augment.settings": ("GenerationSettings", "MiningSettings"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "GenerationSettings",
    "MiningSettings",
    "Motif",
    "MotifProfile",
    "SetProfile",
    "TokenCounter",
    "find_motifs",
    "generate",
    "insertion_schedule",
    "item_list",
    "key_values",
    "latex_table",
    "log_lines",
    "mine_motifs",
    "random_documents",
    "repeated_spans_text",
    "word_pool",
    "write_documents",
    "write_schedule",
    "xml_records",
]


def __getattr__(name: str):
    """Import on first use (numpy comes with the generators, not with the settings the command line reads)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
