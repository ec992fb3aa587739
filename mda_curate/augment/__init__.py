"""Mechanistic data augmentation: mine the motifs of top-influence samples, generate synthetic catalyst
documents with those motifs, and schedule their insertion into training (with a matched random control).

    profile = mine_motifs(top_texts_or_tokens, bottom_texts_or_tokens, tokenizer)
    write_documents(generate(profile, GenerationSettings(tokens=1_000_000, seed=0), tokenizer), "synthetic.jsonl")
    write_schedule(insertion_schedule("synthetic.jsonl", start=6250, rows_per_step=4), "schedule.json")
"""

from mda_curate.augment.generators import (
    GenerationSettings,
    TokenCounter,
    generate,
    item_list,
    key_values,
    latex_table,
    log_lines,
    repeated_spans_text,
    word_pool,
    xml_records,
)
from mda_curate.augment.insertion import insertion_schedule, random_documents, write_documents, write_schedule
from mda_curate.augment.profile import MiningSettings, MotifProfile, SetProfile, mine_motifs
from mda_curate.augment.repeats import Motif, find_motifs

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
