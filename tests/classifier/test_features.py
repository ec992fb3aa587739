"""Feature values on hand-made documents with known answers, bad input, and batch independence."""

import random

import numpy as np
import pytest

from mda_curate.classifier.features import FeatureSettings, extract_features, feature_names
from mda_curate.errors import UserError

SETTINGS = FeatureSettings()
NAMES = feature_names(SETTINGS)


def values(text: str, settings: FeatureSettings = SETTINGS) -> dict[str, float]:
    row = extract_features([text], settings)[0]
    return dict(zip(feature_names(settings), row.tolist()))


def unique_words(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(f"{rng.choice('bcdfghklmnprstvz')}{rng.randint(0, 10**6)}" for _ in range(n))


def test_text_written_twice_has_recurrence_share_one_half():
    whole = FeatureSettings(max_chars=8192, zlib_bytes=8192)  # the ~3.2k characters are read and compressed whole
    once, twice = values(unique_words(200), whole), values(unique_words(200) + " " + unique_words(200), whole)
    for name in ("char16_recur", "word3_recur", "word8_recur"):
        assert once[name] == pytest.approx(0.0, abs=0.01)
        assert twice[name] == pytest.approx(0.5, abs=0.02)
    assert twice["zlib_ratio"] < 0.6 * once["zlib_ratio"]


def test_repetition_closer_than_min_distance_does_not_count():
    assert values("abcdefgh" * 12)["char16_recur"] == 0.0  # every 16-gram first occurs < 128 bytes back
    assert values("abcdefgh" * 125)["char16_recur"] == pytest.approx((1000 - 16 - 128) / (1000 - 15), abs=0.01)


def test_line_repetition_and_shapes():
    lines = [f"{i:04d}  vendor{i} device{i}" for i in range(10)]
    record = values("\n".join(lines))
    assert record["repeated_lines"] == 0.0
    assert record["repeated_line_shapes"] == pytest.approx(0.9)  # every line after the first has the same shape
    assert values("same line\nsame line\nsame line\nother\n")["repeated_lines"] == pytest.approx(0.5)
    assert values("a\n\n\nb")["blank_lines"] == pytest.approx(0.5)  # 4 lines, 2 blank


def test_character_classes_and_markup_counts():
    row = values("ab12")
    assert row["digit_ratio"] == 0.5 and row["lower_ratio"] == 0.5 and row["newline_ratio"] == 0.0
    latex = values(r"\begin{x}\item a\end{x}")  # 23 bytes, 3 commands
    assert latex["latex_commands_per_kchar"] == pytest.approx(3000 / 23)
    xml = values('<a href="x"><b>t</b></a> &amp; "k": 1')  # 37 bytes: 4 tags (2 closing), 1 entity, 1 key
    assert xml["tags_per_kchar"] == pytest.approx(4000 / 37)
    assert xml["closing_tags_per_kchar"] == pytest.approx(2000 / 37)
    assert xml["entities_per_kchar"] == pytest.approx(1000 / 37)
    assert xml["json_keys_per_kchar"] == pytest.approx(1000 / 37)


@pytest.mark.parametrize("text", ["", "\x00" * 50, "caf\u00e9 \ud800 lone surrogate", "\n\n\n", " ", "x"])
def test_odd_text_gives_finite_features(text):
    row = extract_features([text])
    assert row.shape == (1, len(NAMES)) and np.isfinite(row).all()


def test_long_document_is_read_up_to_max_chars():
    settings = FeatureSettings(max_chars=2_000)
    long_text = unique_words(30_000)  # ~230k characters
    assert np.array_equal(extract_features([long_text], settings), extract_features([long_text[:2_000]], settings))


def test_features_do_not_depend_on_the_batch():
    texts = [unique_words(50, seed) * (1 + seed % 3) for seed in range(6)] + ["", "x\ny"]
    together = extract_features(texts)
    alone = np.concatenate([extract_features([t]) for t in texts])
    assert np.array_equal(together, alone)
    assert extract_features([]).shape == (0, len(NAMES))


def test_hashed_buckets_are_frequencies():
    row = extract_features(["some text to hash, twice: some text to hash"])[0]
    hashed = row[len(NAMES) - SETTINGS.hashed_dims :]
    assert (hashed >= 0).all() and np.sum(hashed**2) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize(
    "bad", [dict(max_chars=0), dict(char_ngrams=(0,)), dict(hashed_dims=1000), dict(min_distance_words=-1), dict(zlib_level=10)]
)
def test_invalid_settings_are_user_errors(bad):
    with pytest.raises(UserError):
        FeatureSettings(**bad)
