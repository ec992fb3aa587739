import json

import numpy as np
import pytest

from mda_curate.augment import (
    MiningSettings,
    MotifProfile,
    key_values,
    latex_table,
    mine_motifs,
    repeated_spans_text,
    word_pool,
)
from mda_curate.errors import UserError

WORDS = word_pool()


def planted(seed: int, length: int, copies: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    span = rng.choice(np.arange(100, 1000), length, replace=False)
    return np.concatenate([rng.integers(1000, 2000, 7), np.tile(span, copies), rng.integers(2000, 3000, 7)])


@pytest.fixture(scope="module")
def profile() -> MotifProfile:
    top = [planted(s, 20, 3) for s in range(6)]
    bottom = [np.arange(1, 80) for _ in range(4)]  # no repeats at all
    return mine_motifs(top, bottom, source={"note": "planted"})


def test_mined_numbers_of_planted_token_documents(profile):
    top, bottom = profile.top, profile.bottom
    assert (top.n_docs, top.n_tokens, bottom.n_docs) == (6, 6 * 74, 4)
    assert top.repeats["motifs"] == [[20, 3, 20, 6]]
    assert top.repeats["length"]["p50"] == 20 and top.repeats["copies"]["mean"] == 3
    assert top.repeats["coverage"] == pytest.approx(40 / 74)
    assert top.repeats["back_to_back"] == 1.0
    assert top.kinds == {"repeated_spans": 1.0} and bottom.kinds == {"other": 1.0}
    assert bottom.repeats["docs_with_motifs"] == 0.0 and bottom.repeats["length"]["n"] == 0
    assert bottom.frequency["distinct_ratio"] == 1.0
    assert top.structure is None  # token ids without a tokenizer: no text to measure
    contrast = {name: (t, b) for name, t, b in profile.contrast()}
    assert contrast["motif length (median)"] == (20.0, None)
    assert contrast["kind: other"] == (0.0, 1.0)


def test_text_documents_get_structure_measures():
    rng = np.random.default_rng(0)
    tables = [latex_table(rng, WORDS, 6, 4) for _ in range(3)]
    records = [key_values(rng, WORDS, 4, 3) for _ in range(3)]
    profile = mine_motifs(tables, records)
    assert profile.top.kinds == {"latex": 1.0} and profile.bottom.kinds == {"records": 1.0}
    assert profile.top.structure["table_columns"] == {"4": 18}
    assert profile.top.structure["environments"] == [["table", 3], ["tabular", 3]]
    assert profile.bottom.structure["record_fields"] == {"3": 12}
    assert profile.top.frequency["char_classes"]["letters"] > 0.3
    assert MotifProfile.from_json(profile.to_json()) == profile


def test_texts_are_mined_in_tokens_with_a_tokenizer(bpe):
    text = repeated_spans_text(np.random.default_rng(1), word_pool(bpe), [(40, 3, 40)])
    profile = mine_motifs([text], tokenizer=bpe)
    assert profile.top.repeats["motifs"] == [[40, 3, 40, 1]]
    assert profile.top.n_tokens == 120
    assert profile.examples[0]["text"] == text[:300] and profile.examples[0]["motifs"] == [[40, 3, 40]]


def test_json_round_trip(profile):
    again = MotifProfile.from_json(profile.to_json())
    assert again == profile
    assert again.to_json() == profile.to_json()
    assert json.loads(profile.to_json())["contrast"][0] == ["documents", 6, 4]


def test_save_and_load(profile, tmp_path):
    profile.save(tmp_path / "sub" / "profile.json")
    assert MotifProfile.load(tmp_path / "sub" / "profile.json") == profile
    with pytest.raises(UserError, match="no such profile file"):
        MotifProfile.load(tmp_path / "missing.json")


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["top"]["kinds"].update(spirals=0.5), "top.kinds unknown motif kind 'spirals'"),
        (lambda d: d["top"]["kinds"].update(latex=-1), "top.kinds.latex must be a share >= 0"),
        (
            lambda d: d["top"]["repeats"]["motifs"].append([5, 1, 5, 2]),
            r"top.repeats.motifs\[1\] must be \[length, copies >= 2",
        ),
        (lambda d: d.update(version=7), "version must be 1"),
        (lambda d: d["bottom"].pop("repeats"), "bottom.repeats is required"),
        (lambda d: d["settings"].update(min_length=0), "settings.min_length must be an integer >= 2"),
    ],
)
def test_bad_profile_is_one_clear_error(profile, edit, message):
    data = json.loads(profile.to_json())
    edit(data)
    with pytest.raises(UserError, match=message):
        MotifProfile.from_json(json.dumps(data), source="p.json")


def test_malformed_profile_json_names_the_source():
    with pytest.raises(UserError, match="p.json: malformed JSON"):
        MotifProfile.from_json("{oops", source="p.json")


def test_no_top_documents_is_an_error():
    with pytest.raises(UserError, match="no top documents"):
        mine_motifs([])


def test_examples_are_limited_by_the_settings(profile):
    assert [e["set"] for e in profile.examples] == ["top"] * 6 + ["bottom"] * 3
    few = mine_motifs([planted(0, 20, 2)] * 4, settings=MiningSettings(examples=2))
    assert len(few.examples) == 2
