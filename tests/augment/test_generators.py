import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from mda_curate.augment import (
    GenerationSettings,
    MiningSettings,
    MotifProfile,
    TokenCounter,
    find_motifs,
    generate,
    item_list,
    key_values,
    latex_table,
    log_lines,
    mine_motifs,
    repeated_spans_text,
    word_pool,
    xml_records,
)
from mda_curate.augment.profile import WORD_TOKEN
from mda_curate.errors import FieldError, UserError

WORDS = word_pool()


def mined(text: str, tokenizer=None) -> list[tuple[int, int, int]]:
    ids = tokenizer(text)["input_ids"] if tokenizer else [hash(u) for u in WORD_TOKEN.findall(text)]
    return [(m.length, m.copies, m.distance) for m in find_motifs(np.array(ids))[0]]


@pytest.mark.parametrize("distance", [40, 55])
def test_span_of_40_written_3_times_re_mines_exactly(distance, bpe):
    """Word units without a tokenizer; with the shipped BPE every pool word is one token, so the same holds in tokens."""
    for tokenizer in (None, bpe):
        text = repeated_spans_text(np.random.default_rng(0), word_pool(tokenizer), [(40, 3, distance)])
        assert mined(text, tokenizer) == [(40, 3, distance)]


def test_several_planted_motifs_re_mine_in_order(bpe):
    motifs = [(12, 2, 12), (20, 3, 26), (8, 4, 8), (30, 2, 45)]
    for seed in range(20):
        text = repeated_spans_text(np.random.default_rng(seed), word_pool(bpe), motifs)
        assert mined(text, bpe) == motifs


def test_unplantable_motif_is_refused():
    with pytest.raises(UserError, match="copies >= 2"):
        repeated_spans_text(np.random.default_rng(0), WORDS, [(40, 1, 40)])
    with pytest.raises(UserError, match="length >= 5"):
        repeated_spans_text(np.random.default_rng(0), WORDS, [(3, 2, 3)])


@pytest.mark.parametrize("rows,columns", [(1, 1), (4, 3), (9, 6)])
def test_latex_table_has_rows_line_ends_and_columns_minus_one_ampersands(rows, columns):
    text = latex_table(np.random.default_rng(rows), WORDS, rows, columns)
    body = [line for line in text.splitlines() if line.endswith(r"\\")]
    assert text.count(r"\\") == rows and len(body) == rows
    assert all(line.count("&") == columns - 1 for line in body)
    assert text.count("&") == rows * (columns - 1)
    assert text.startswith(r"\begin{table}") and text.endswith(r"\end{table}")
    assert re.search(rf"\\begin\{{tabular\}}\{{l{{{columns}}}\}}", text)


@pytest.mark.parametrize("html", [False, True])
def test_xml_and_html_records_are_well_formed_with_the_asked_shape(html):
    for seed in range(10):
        text = xml_records(np.random.default_rng(seed), WORDS, records=5, fields=3, html=html)
        root = ET.fromstring(text.encode())
        assert len(root) == 5 and all(len(record) == 3 for record in root)
        if html:
            assert root.tag == "table" and all(r.tag == "tr" for r in root)
        else:
            assert [r.get("id") for r in root] == ["1", "2", "3", "4", "5"]


def test_key_values_lists_and_logs_have_the_asked_counts():
    rng = np.random.default_rng(0)
    blocks = key_values(rng, WORDS, records=4, fields=3).split("\n\n")
    assert len(blocks) == 4 and all(len(b.splitlines()) == 3 for b in blocks)
    keys = [[line.split(":")[0] for line in b.splitlines()] for b in blocks]
    assert all(k == keys[0] for k in keys)
    numbered = item_list(rng, WORDS, items=7, numbered=True).splitlines()
    assert [line.split(".")[0] for line in numbered] == [str(i) for i in range(1, 8)]
    logs = log_lines(rng, WORDS, lines=12, templates=2).splitlines()
    assert len(logs) == 12
    assert all(re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (INFO|DEBUG|WARN|ERROR) \w+: ", line) for line in logs)
    assert len({line.split(" ", 4)[3] for line in logs}) <= 2  # components come from the 2 templates


def profile_of_all_kinds() -> MotifProfile:
    profile = mine_motifs([repeated_spans_text(np.random.default_rng(0), WORDS, [(10, 3, 10)])])
    kinds = {k: 1 / 6 for k in ("repeated_spans", "latex", "markup", "records", "list", "log")}
    return replace(profile, top=replace(profile.top, kinds=kinds))


def test_stream_is_deterministic_and_every_kind_re_mines_as_itself():
    profile = profile_of_all_kinds()
    assert set(profile.top.kinds) == {"repeated_spans", "latex", "markup", "records", "list", "log"}
    settings = GenerationSettings(tokens=6000, seed=3, doc_tokens=128)
    docs = list(generate(profile, settings))
    assert docs == list(generate(profile, settings))
    assert docs != list(generate(profile, GenerationSettings(tokens=6000, seed=4, doc_tokens=128)))
    assert {d["motif"] for d in docs} == set(profile.top.kinds)
    for kind in profile.top.kinds:
        texts = [d["text"] for d in docs if d["motif"] == kind]
        assert mine_motifs(texts).top.kinds == {kind: 1.0}, kind
    assert all(d["domain"] == "synthetic" and d["id"].startswith("synthetic-3-") for d in docs)


@pytest.mark.parametrize("budget", [0, 15, 1000, 7777])
def test_token_budget_never_exceeded_and_short_by_less_than_one_document(budget, bpe):
    profile = profile_of_all_kinds()
    for tokenizer in (None, bpe):
        docs = list(generate(profile, GenerationSettings(tokens=budget, seed=1, doc_tokens=100), tokenizer))
        counter = TokenCounter(tokenizer)
        total = sum(counter(d["text"]) for d in docs)
        assert total == sum(d["n_tokens"] for d in docs)
        assert budget - 100 <= total <= budget


def test_chars_per_token_estimate_is_what_is_budgeted():
    docs = list(generate(profile_of_all_kinds(), GenerationSettings(tokens=2000, seed=0, chars_per_token=3.0)))
    assert all(d["n_tokens"] == -(-len(d["text"]) // 3) for d in docs)
    assert TokenCounter(chars_per_token=3.0).describe() == "estimated as ceil(characters / 3)"


def test_repeat_documents_follow_the_profiles_motifs(bpe):
    profile = mine_motifs(
        [repeated_spans_text(np.random.default_rng(s), WORDS, [(25, 3, 25), (15, 2, 15)]) for s in range(4)]
    )
    assert profile.top.repeats["motifs"] == [[25, 3, 25, 4], [15, 2, 15, 4]]
    docs = list(generate(profile, GenerationSettings(tokens=3000, seed=0, doc_tokens=128), bpe))
    assert {d["motif"] for d in docs} == {"repeated_spans"}
    for doc in docs:
        assert {tuple(m) for m in doc["params"]["motifs"]} <= {(25, 3, 25), (15, 2, 15)}
        assert mined(doc["text"], bpe) == [tuple(m) for m in doc["params"]["motifs"]]
        assert doc["n_tokens"] == sum((c - 1) * d + n for n, c, d in doc["params"]["motifs"])


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"tokens": -5}, r"^tokens: must be a non-negative integer \(got -5\)$"),
        ({"tokens": 100, "doc_tokens": 4}, r"^doc_tokens: must be at least 16 \(got 4\)$"),
        ({"tokens": 100, "chars_per_token": 0}, r"^chars_per_token: must be > 0 \(got 0\)$"),
    ],
)
def test_bad_generation_settings_are_one_clear_error(settings, message):
    with pytest.raises(FieldError, match=message):
        GenerationSettings(**settings)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"min_length": 1}, r"^min_length: must be an integer >= 2 \(got 1\)$"),
        ({"max_distance": True}, r"^max_distance: must be an integer >= 1 \(got True\)$"),
        ({"examples": -1}, r"^examples: must be an integer >= 0 \(got -1\)$"),
    ],
)
def test_mining_settings_are_validated(settings, message):
    with pytest.raises(FieldError, match=message):
        MiningSettings(**settings)
