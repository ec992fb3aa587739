import numpy as np
import pytest

from mda_curate.data.tokenized import TokenizedCorpus
from mda_curate.errors import UserError
from mda_curate.training.data import (
    CATALYST,
    SPAN_COPIES,
    SPAN_LENGTHS,
    DataOrder,
    repeated_spans,
    rng,
    span_token_pool,
)

CTX = 16


def build(corpus_dir, seed=0, num_samples=400, **kwargs):
    return DataOrder.build([TokenizedCorpus.open(corpus_dir)], CTX, num_samples, seed, **kwargs)


def test_order_is_deterministic_given_the_seed_and_differs_for_another(corpus_dir):
    first, again, other = build(corpus_dir), build(corpus_dir), build(corpus_dir, seed=1)
    assert np.array_equal(first.order, again.order)
    assert all(np.array_equal(first.sample(g), again.sample(g)) for g in range(50))
    assert not np.array_equal(first.order, other.order)
    assert any(not np.array_equal(first.sample(g), other.sample(g)) for g in range(50))


def test_mixture_shares_are_respected(corpus_dir):
    order = build(corpus_dir, num_samples=1000, mix={"prose": 2, "code": 1, "markup": 1}, catalyst_share=0.6)
    counts = {order.sources[s].name: n for s, n in zip(*np.unique(order.order[:, 0], return_counts=True))}
    assert counts == {"prose": 200, "code": 100, "markup": 100, CATALYST: 600}  # exact (largest remainder)
    first_half = {order.sources[s].name: n for s, n in zip(*np.unique(order.order[:500, 0], return_counts=True))}
    assert abs(first_half[CATALYST] - 300) < 40  # shuffled, so any prefix is close to the shares too
    only_code = build(corpus_dir, mix={"code": 1})
    assert {only_code.sample_source(g) for g in range(len(only_code))} == {"code"}


def test_natural_proportions_follow_token_counts(corpus_dir):
    corpus = TokenizedCorpus.open(corpus_dir)
    order = build(corpus_dir, num_samples=2000)
    for s, source in enumerate(order.sources):
        tokens = (corpus.lengths[corpus.domain_indices(source.name)] + 1).sum()
        assert abs((order.order[:, 0] == s).mean() - tokens / corpus.tokens.size) < 1e-3


def test_samples_are_packed_documents_and_map_back_to_their_ids(corpus_dir, tmp_path):
    corpus = TokenizedCorpus.open(corpus_dir)
    order = build(corpus_dir)
    by_id = {doc_id: i for i, doc_id in enumerate(corpus.doc_ids)}
    for g in range(40):
        ids = order.sample_doc_ids(g)
        stream = np.concatenate([np.append(corpus.document(by_id[d]), corpus.eos_id) for d in ids])
        sample = order.sample(g)
        assert len(sample) == CTX + 1 and {corpus.domains[by_id[d]] for d in ids} == {order.sample_source(g)}
        # the window is a contiguous piece of its documents' EOS-separated stream
        assert any(np.array_equal(stream[i : i + CTX + 1], sample) for i in range(len(stream) - CTX))
    order.save(tmp_path)
    loaded = DataOrder.load(tmp_path)
    assert all(loaded.sample_doc_ids(g) == order.sample_doc_ids(g) for g in range(len(order)))
    assert all(np.array_equal(loaded.sample(g), order.sample(g)) for g in range(0, len(order), 7))


def test_sample_documents_count_each_documents_tokens_in_the_window(corpus_dir):
    corpus = TokenizedCorpus.open(corpus_dir)
    order = build(corpus_dir)
    by_id = {doc_id: i for i, doc_id in enumerate(corpus.doc_ids)}
    for g in range(40):
        pieces = order.sample_documents(g)
        assert [d for d, _ in pieces] == order.sample_doc_ids(g) and sum(n for _, n in pieces) == CTX + 1
        sample, position = order.sample(g), 0
        for k, (doc_id, n) in enumerate(pieces):  # document + EOS: the first piece ends it, later ones start it
            whole = np.append(corpus.document(by_id[doc_id]), corpus.eos_id)
            piece = sample[position : position + n]
            if k > 0:
                assert np.array_equal(piece, whole[:n])
            elif len(pieces) > 1:
                assert np.array_equal(piece, whole[-n:])
            else:
                assert any(np.array_equal(whole[i : i + n], piece) for i in range(len(whole) - n + 1))
            position += n


def test_repeated_spans_have_the_claimed_lengths_and_copies():
    pool = np.arange(20, 1000)
    for seed in range(20):
        tokens, spans = repeated_spans(rng(seed, CATALYST), pool, 2049)
        assert len(tokens) == 2049 and set(np.unique(tokens)) <= set(pool)
        for start, length, copies in spans[:-1]:  # the last span may be cut by the window's end
            assert SPAN_LENGTHS[0] <= length <= SPAN_LENGTHS[1] and SPAN_COPIES[0] <= copies <= SPAN_COPIES[1]
            span = tokens[start : start + length]
            assert np.array_equal(tokens[start : start + length * copies], np.tile(span, copies))
        assert [s[0] for s in spans[1:]] == [s[0] + s[1] * s[2] for s in spans[:-1]]  # back to back


def test_catalyst_windows_are_random_access_and_independent_of_the_mix(corpus_dir):
    a = build(corpus_dir, catalyst_share=0.5)
    b = build(corpus_dir, catalyst_share=0.5, mix={"code": 1})
    catalyst = a.sources[-1]
    assert catalyst.name == CATALYST and np.array_equal(catalyst.window(123), b.sources[-1].window(123))
    g = next(g for g in range(len(a)) if a.sample_source(g) == CATALYST)
    assert np.array_equal(a.sample(g), catalyst.window(g)) and a.sample_doc_ids(g) == [f"{CATALYST}:{g}"]


def test_span_pool_ranks_tokens_by_frequency(corpus_dir):
    corpus = TokenizedCorpus.open(corpus_dir)
    pool = span_token_pool([corpus], corpus.vocab_size, corpus.eos_id)
    counts = np.bincount(corpus.tokens, minlength=corpus.vocab_size)
    counts[corpus.eos_id] = 0
    top20 = np.argsort(-counts, kind="stable")[:20]
    assert not set(pool) & set(top20) and corpus.eos_id not in pool and np.all(counts[pool] > 0)
    assert np.array_equal(span_token_pool([], 1024, 0), np.arange(20, 1000))  # no counts: the id band


def test_unknown_mix_domain_and_tiny_domain_are_user_errors(corpus_dir):
    with pytest.raises(UserError, match="mix: no domain 'latex'"):
        build(corpus_dir, mix={"latex": 1})
    corpus = TokenizedCorpus.open(corpus_dir)
    with pytest.raises(UserError, match="less than one window"):
        DataOrder.build([corpus], 100_000, 10, 0)
