"""Feature values on hand-made documents with known answers, every feature against a plain-Python
reference on real and random documents, bad input, and batch independence."""

import itertools
import math
import random
import re
import zlib

import numpy as np
import pytest

from mda_curate.classifier import _featurize
from mda_curate.classifier.features import FeatureSettings, extract_features, feature_names
from mda_curate.errors import FieldError
from mda_curate.resources import sample_corpus_dir

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


def test_the_extension_checks_its_arguments():
    from mda_curate.classifier import _featurize

    args = (SETTINGS.char_ngrams, SETTINGS.word_ngrams, 128, 32, 4, SETTINGS.hashed_dims, False)
    with pytest.raises(ValueError, match="shape"):
        _featurize.fill([b"text"], np.zeros((1, 3), np.float32), *args)
    with pytest.raises(TypeError, match=r"docs\[1\] is str"):
        _featurize.fill([b"text", "text"], np.zeros((2, len(NAMES)), np.float32), *args)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_chars": 0},
        {"char_ngrams": (0,)},
        {"hashed_ngram": 0},
        {"hashed_dims": 1000},
        {"min_distance_words": -1},
        {"zlib_level": 10},
        {"zlib_bytes": 10},
    ],
)
def test_invalid_settings_are_errors_naming_the_field(bad):
    ((name, value),) = bad.items()
    with pytest.raises(FieldError, match=rf"^{name}: must be .* \(got {re.escape(repr(value))}\)$"):
        FeatureSettings(**bad)


# ---- a plain-Python reference: exact spans instead of hashes, one document at a time ----------------------

P, MIX = 0x100000001B3, 0xBF58476D1CE4E5B9
SPACE, BLANK = b" \t\n\r\f\v", b" \t\r\f\v"
CLASSES = (
    lambda b: 48 <= b < 58,
    lambda b: 65 <= b < 91,
    lambda b: 97 <= b < 123,
    lambda b: b in BLANK,
    lambda b: b == 10,
    lambda b: 33 <= b < 127 and not chr(b).isalnum(),
    lambda b: chr(b) in "()[]{}<>",
    lambda b: b == 92,
    lambda b: b >= 128,
    lambda b: b < 32 and b not in SPACE,
)


def is_anchor(b: int) -> bool:
    return (b * 0x9E3779B1 >> 7) % 8 == 0 and b not in SPACE


def markup_category(first: int, second: int) -> int:
    """1 LaTeX command, 2 tag, 3 closing tag, 4 entity, 5 JSON key, 0 none (for the byte pair at a position)."""
    first, second = chr(first), chr(second)
    letter = second.isascii() and second.isalpha()
    if first == "\\":
        return 1 if letter else 0
    if first == "<":
        return 3 if second == "/" else 2 if letter or second in "!?" else 0
    if first == "&":
        return 4 if letter or second == "#" else 0
    return 5 if first + second == '":' else 0


def recurring_share(windows: list, min_distance: int) -> float:
    """Share of (position, span) pairs whose span first occurred more than min_distance positions earlier."""
    first, recurring = {}, 0
    for position, span in windows:
        if span in first:
            recurring += position - first[span] > min_distance
        else:
            first[span] = position
    return recurring / max(len(windows), 1)


def shape(line: bytes) -> tuple:
    symbols = [
        1
        if b == 0
        else 97
        if chr(b).isalpha() and b < 128 or b >= 128
        else 48
        if 48 <= b < 58
        else 32
        if b in BLANK
        else b
        for b in line
    ]
    return tuple(symbol for symbol, _ in itertools.groupby(symbols))


def reference_features(text: str, settings: FeatureSettings) -> list[float]:
    data = text[: settings.max_chars].encode("utf-8", "replace")
    length, n_bytes, padded = len(data), max(len(data), 1), data + b"\n"
    row = [math.log1p(length)]
    if settings.zlib_bytes:
        head = data[: settings.zlib_bytes]
        row.append(len(zlib.compress(head, settings.zlib_level)) / len(head) if head else 1.0)
    anchors = [i for i in range(length) if is_anchor(data[i])]
    for n in settings.char_ngrams:
        row.append(
            recurring_share([(i, data[i : i + n]) for i in anchors if i + n <= length], settings.min_distance_chars)
        )
    tokens = data.split()
    for n in settings.word_ngrams:
        windows = [(i, tuple(tokens[i : i + n])) for i in range(len(tokens) - n + 1)]
        row.append(recurring_share(windows, settings.min_distance_words))
    row += [sum(map(predicate, data)) / n_bytes for predicate in CLASSES]
    markup = [markup_category(padded[i], padded[i + 1]) for i in range(length)]
    counts = [markup.count(c) for c in range(1, 6)]
    counts[1] += counts[2]
    row += [1000.0 * count / n_bytes for count in counts]
    lines = data.split(b"\n")
    lengths = [len(line) for line in lines]
    mean = sum(lengths) / len(lines)
    variance = max(sum(x * x for x in lengths) / len(lines) - mean**2, 0.0)
    content = [line for line in lines if line.strip(SPACE)]
    row += [
        math.log1p(len(lines)),
        math.log1p(mean),
        math.sqrt(variance) / max(mean, 1.0),
        math.log1p(max(lengths)),
        (len(lines) - len(content)) / len(lines),
        sum(line[0] in BLANK for line in content) / len(lines),
        recurring_share(list(enumerate(content)), 0),
        recurring_share(list(enumerate(map(shape, content))), 0),
    ]
    if settings.hashed_dims:
        bits, n = settings.hashed_dims.bit_length() - 1, settings.hashed_ngram
        hashes = [sum(b * P**j for j, b in enumerate(data[i : i + n])) % 2**64 for i in anchors if i + n <= length]
        buckets = [(h * MIX % 2**64) >> (64 - bits) if bits else 0 for h in hashes]
        counts = [0] * settings.hashed_dims
        for bucket in buckets:
            counts[bucket] += 1
        row += [math.sqrt(c / max(len(buckets), 1)) for c in counts]
    return row


def fuzz_documents(count: int, seed: int = 0) -> list[str]:
    """Short documents over a small alphabet rich in whitespace, markup, NUL bytes and non-ASCII, so
    spans, lines and shapes repeat at every distance."""
    rng = random.Random(seed)
    alphabet = ["ab", "a", "b", " ", "\n", "\t", "\r", "\x00", "<", "</", "\\x", "&#", '":', "\u00e9", "1", "\n\n"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400))) for _ in range(count)]


REFERENCE_SETTINGS = [
    SETTINGS,
    FeatureSettings(
        char_ngrams=(2, 5),
        word_ngrams=(1, 2),
        min_distance_chars=3,
        min_distance_words=2,
        hashed_ngram=2,
        hashed_dims=16,
        zlib_bytes=0,
        max_chars=300,
    ),
    FeatureSettings(hashed_dims=1, min_distance_chars=0, min_distance_words=0, zlib_bytes=256),
]


@pytest.fixture(params=["avx2", "bytewise"])
def classify_path(request):
    """Run a test with the featurizer classifying bytes by AVX2 or byte by byte (skipped without AVX2)."""
    wanted = request.param == "avx2"
    try:
        if _featurize.set_simd(wanted) != wanted:
            pytest.skip("this CPU has no AVX2")
        yield request.param
    finally:
        _featurize.set_simd(True)


@pytest.mark.parametrize("settings", REFERENCE_SETTINGS, ids=["default", "short-spans", "one-bucket-zlib"])
def test_every_feature_matches_the_plain_python_reference(settings, classify_path):
    import pyarrow.parquet as pq

    corpus = pq.read_table(sample_corpus_dir() / "train.parquet", columns=["text"]).column("text").to_pylist()
    texts = corpus[::60] + fuzz_documents(150) + ["", "x", "ab\x00\nab\n", " \n\t\n", "caf\u00e9 \ud800"]
    expected = np.array([reference_features(text, settings) for text in texts])
    np.testing.assert_allclose(extract_features(texts, settings), expected, rtol=1e-6, atol=1e-7)


def test_avx2_and_bytewise_classification_agree_bit_for_bit():
    import pyarrow.parquet as pq

    texts = pq.read_table(sample_corpus_dir() / "train.parquet", columns=["text"]).column("text").to_pylist()
    texts += fuzz_documents(300, seed=1)
    settings = FeatureSettings(max_chars=20_000)
    if not _featurize.set_simd(True):
        pytest.skip("this CPU has no AVX2")
    try:
        with_avx2 = extract_features(texts, settings)
        _featurize.set_simd(False)
        np.testing.assert_array_equal(extract_features(texts, settings), with_avx2)
    finally:
        _featurize.set_simd(True)
