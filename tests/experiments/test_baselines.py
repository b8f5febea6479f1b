"""Attribution baselines: registry, candidate convention, rollout/relevancy closed forms, tiny random models."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from whytoken.adapters.trace import GeneratedToken, Position, TokenKind, Trace
from whytoken.errors import (
    DuplicateRegistrationError,
    ExplanationError,
    InvalidAttentionError,
    InvalidParameterError,
    LayerError,
    UnknownBaselineError,
)
from whytoken.experiments.baselines import (
    AttributionMethod,
    attention_rollout,
    candidate_positions,
    get_baseline,
    list_baselines,
    rank_by_scores,
    register_baseline,
    relevancy_map,
    whytoken_scores,
)
from whytoken.experiments.harness import ToyModel

TORCH_FREE = ["attention", "rollout", "random"]


def _stochastic(rng, heads, n):
    a = np.tril(rng.random((heads, n, n)) + 0.05)
    return (a / a.sum(-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def toy_trace():
    return ToyModel(n_layers=3, n_heads=2).trace(prompt="The capital of France is", max_new_tokens=2)


# ----------------------------------------------------------------------------- registry
def test_registry_lists_every_builtin_method():
    assert set(list_baselines()) >= {"attention", "rollout", "relevancy", "grad-x-input", "random", "whytoken"}


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(UnknownBaselineError) as info:
        get_baseline("lime")
    message = str(info.value)
    assert "'lime'" in message and all(name in message for name in list_baselines())


def test_duplicate_registration_needs_overwrite():
    with pytest.raises(DuplicateRegistrationError, match="already registered as 'random'"):
        @register_baseline("random")
        class Other(AttributionMethod):
            def _attribute(self, trace, target, candidates, model, seed):
                return {"scores": [0.0] * len(candidates)}


def test_unknown_parameter_is_rejected_with_the_allowed_ones():
    with pytest.raises(InvalidParameterError, match=r"no parameter\(s\) \['alpha'\].*\['heads', 'layer'\]"):
        get_baseline("attention", alpha=0.1)


@pytest.mark.parametrize("params, match", [
    ({"n_samples": "wide"}, "n_samples = 'wide'"), ({"n_samples": 3}, "n_samples = 3"),
    ({"target_row": "last"}, "target_row = 'last'"),
])
def test_whytoken_settings_are_checked_before_running(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        get_baseline("whytoken", **params)
    assert get_baseline("whytoken", n_samples="hidden_size", target_row="predicting").params["n_samples"] == "hidden_size"


def test_methods_needing_the_model_say_so(toy_trace):
    bare = Trace(toy_trace.positions, toy_trace.generated, toy_trace.attentions, toy_trace.prompt, None, None,
                 toy_trace.model_info)
    with pytest.raises(ExplanationError, match="needs the live model"):
        get_baseline("relevancy").attribute(bare, -1)


# ----------------------------------------------------------------------------- candidates
def test_candidates_exclude_special_first_target_and_later_positions():
    positions = (Position(0, "prompt_text", 3, "sink"), Position(1, "special", 1, "<s>"),
                 Position(2, "image_patch", 9, "<image>", patch=(0, 0)), Position(3, "prompt_text", 4, " a"),
                 Position(4, "generated", 5, " b"), Position(5, "generated", 6, " c"))
    trace = Trace(positions, (GeneratedToken(4, 5, " b", 0.9), GeneratedToken(5, 6, " c", 0.8)), {}, "a",
                  None, None, {})
    assert candidate_positions(trace, 5) == (2, 3, 4)
    assert candidate_positions(trace, 4) == (2, 3)
    assert candidate_positions(trace, 5, include_special=True, include_first=True) == (0, 1, 2, 3, 4)


def test_rank_by_scores_is_deterministic_on_ties():
    assert rank_by_scores([9, 3, 5], [1.0, 1.0, 2.0]) == (5, 3, 9)


# ----------------------------------------------------------------------------- rollout
def test_rollout_of_identity_attention_is_identity():
    assert np.allclose(attention_rollout([np.eye(5)[None].repeat(3, 0)] * 4), np.eye(5))


def test_rollout_rows_are_distributions_and_causal():
    rng = np.random.default_rng(0)
    rollout = attention_rollout([_stochastic(rng, 3, 6) for _ in range(4)])
    assert rollout.shape == (6, 6)
    assert np.all(rollout >= 0) and np.allclose(rollout.sum(1), 1.0)
    assert np.allclose(np.triu(rollout, 1), 0.0)


def test_rollout_closed_form_for_two_layers():
    rng = np.random.default_rng(1)
    a1, a2 = _stochastic(rng, 2, 4), _stochastic(rng, 2, 4)
    mix = [0.5 * np.eye(4) + 0.5 * a.mean(0) for a in (a1, a2)]
    assert np.allclose(attention_rollout([a1, a2]), mix[1] @ mix[0])
    assert np.allclose(attention_rollout([a1, a2], residual=1.0), np.eye(4))


def test_rollout_rejects_bad_input():
    with pytest.raises(InvalidParameterError, match="residual"):
        attention_rollout([np.eye(2)], residual=2.0)
    with pytest.raises(InvalidAttentionError, match="shape"):
        attention_rollout([np.eye(2), np.eye(3)])


# ----------------------------------------------------------------------------- relevancy
def test_relevancy_one_layer_closed_form():
    rng = np.random.default_rng(2)
    a = _stochastic(rng, 3, 5)
    g = rng.normal(size=a.shape)
    expected = np.eye(5) + np.clip(g * a, 0, None).mean(0)
    assert np.allclose(relevancy_map([a], [g]), expected)


def test_relevancy_two_layer_closed_form_and_non_negativity():
    rng = np.random.default_rng(3)
    layers = [_stochastic(rng, 2, 4) for _ in range(2)]
    grads = [rng.normal(size=(2, 4, 4)) for _ in range(2)]
    bars = [np.clip(g * a, 0, None).mean(0) for a, g in zip(layers, grads)]
    expected = (np.eye(4) + bars[1]) @ (np.eye(4) + bars[0])
    result = relevancy_map(layers, grads)
    assert np.allclose(result, expected) and np.all(result >= 0)


def test_relevancy_with_zero_gradient_is_identity():
    a = _stochastic(np.random.default_rng(4), 2, 3)
    assert np.allclose(relevancy_map([a, a], [np.zeros_like(a)] * 2), np.eye(3))


def test_relevancy_needs_matching_gradients():
    with pytest.raises(InvalidAttentionError, match="one gradient per attention layer"):
        relevancy_map([np.ones((1, 2, 2))], [])


# ----------------------------------------------------------------------------- torch-free methods
@pytest.mark.parametrize("name", TORCH_FREE)
def test_contract_scores_every_candidate(name, toy_trace):
    result = get_baseline(name).attribute(toy_trace, -1, seed=3)
    cands = candidate_positions(toy_trace, toy_trace.generated[-1].position)
    assert result.candidates == cands and len(result.scores) == len(cands)
    assert sorted(result.ranking) == list(cands)
    assert result.target == toy_trace.generated[-1].position
    assert result.to_json()["method"] == name
    again = get_baseline(name).attribute(toy_trace, -1, seed=3)
    assert again.ranking == result.ranking


def test_attention_reads_the_predicting_row(toy_trace):
    t = toy_trace.generated[0].position
    result = get_baseline("attention", layer=1, heads=1).attribute(toy_trace, t)
    row = toy_trace.attentions[1][1][t - 1]
    assert np.allclose(result.scores, row[list(result.candidates)])
    mean = get_baseline("attention", layer=-1).attribute(toy_trace, t)
    assert np.allclose(mean.scores, toy_trace.attentions[2].mean(0)[t - 1][list(mean.candidates)])


def test_attention_layer_and_head_errors(toy_trace):
    with pytest.raises(LayerError, match="captured layers are"):
        get_baseline("attention", layer=7).attribute(toy_trace, -1)
    with pytest.raises(LayerError, match="valid heads are 0..1"):
        get_baseline("attention", heads=5).attribute(toy_trace, -1)


def test_rollout_needs_every_layer(toy_trace):
    partial = Trace(toy_trace.positions, toy_trace.generated, {2: toy_trace.attentions[2]}, toy_trace.prompt,
                    None, None, toy_trace.model_info)
    with pytest.raises(LayerError, match="needs every layer"):
        get_baseline("rollout").attribute(partial, -1)


def test_random_depends_on_the_seed(toy_trace):
    rankings = {get_baseline("random").attribute(toy_trace, -1, seed=s).ranking for s in range(6)}
    assert len(rankings) > 1


def test_whytoken_scores_put_the_explaining_set_first(toy_trace):
    import numpy as np

    from whytoken.experiments.baselines.base import predicting_row

    t = toy_trace.generated[0].position
    cands = candidate_positions(toy_trace, t)
    members = lambda *ps: SimpleNamespace(positions=ps)  # noqa: E731
    explanation = SimpleNamespace(
        explaining_set=members(cands[3]), explaining_sets=(members(cands[3]),), other_sets=(members(cands[0]),),
        best_head=SimpleNamespace(head=1, pds_depth={cands[2]: 1, cands[1]: 2}, n_ci_tests=5),
        heads=(SimpleNamespace(n_ci_tests=5),), verified=True, status="explained", timings={"total": 0.1},
        search=SimpleNamespace(passes_used=7, n_model_calls=2, exhaustive_passes=40, passes_by_stage={"singles": 7}),
        single_token_effects={})
    out = whytoken_scores(explanation, toy_trace, t, cands)
    ranking = rank_by_scores(cands, out["scores"])
    # the explaining set, the other verified set, then the query's evidence order: head-mean attention
    att = np.asarray(toy_trace.attentions[max(toy_trace.attentions)], dtype=float).mean(axis=0)[predicting_row(toy_trace, t)]
    rest = sorted((c for c in cands if c not in (cands[3], cands[0])), key=lambda c: (-att[c], c))
    assert ranking[:2] == (cands[3], cands[0]) and list(ranking[2:]) == rest[: len(ranking) - 2]
    assert out["explaining_set"] == (cands[3],) and out["forward_passes"] == 7
    # tokens removed alone during the search come next, strongest measured effect first, before the rest
    explanation.single_token_effects = {cands[1]: 0.6, cands[4]: 0.2}
    ranking = rank_by_scores(cands, whytoken_scores(explanation, toy_trace, t, cands)["scores"])
    assert ranking[:4] == (cands[3], cands[0], cands[1], cands[4])


def test_whytoken_method_runs_the_query_on_the_toy_model(toy_trace):
    method = get_baseline("whytoken", max_set_size=2, n_samples=16)
    result = method.attribute(toy_trace, toy_trace.generated[0].position)
    assert sorted(result.ranking) == list(result.candidates)
    assert result.details["status"] in ("explained", "not-explained")
    if result.explaining_set is not None:
        assert result.ranking[: len(result.explaining_set)] == tuple(sorted(result.explaining_set))
        model = toy_trace.adapter
        assert model.predict(toy_trace, result.target, result.explaining_set).changed is result.verified


# ----------------------------------------------------------------------------- tiny random torch models
torch = pytest.importorskip("torch")


class TinyAdapter:
    """The adapter surface the gradient baselines use: ``.model`` and ``model_inputs(trace, length)``."""

    def __init__(self, model):
        self.model = model

    def model_inputs(self, trace, length):
        return {"input_ids": torch.as_tensor(trace.input_ids[:length][None])}


@pytest.fixture(scope="module")
def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=48, hidden_size=24, intermediate_size=48, num_hidden_layers=3,
                         num_attention_heads=3, num_key_value_heads=1, attn_implementation="eager")
    model = LlamaForCausalLM(config).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ids = torch.tensor([[1, 7, 12, 30, 5, 9, 17]])
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True)
    attentions = {i: a[0].numpy() for i, a in enumerate(out.attentions)}
    positions = [Position(0, TokenKind.SPECIAL, 1, "<s>")]
    positions += [Position(i, TokenKind.PROMPT_TEXT, int(ids[0, i]), f"w{i}") for i in range(1, 6)]
    positions.append(Position(6, TokenKind.GENERATED, 17, "g"))
    trace = Trace(tuple(positions), (GeneratedToken(6, 17, "g", 0.1),), attentions, "w", None, None,
                  {"n_layers": 3, "n_heads": 3, "head_dim": 8, "is_causal": True}, input_ids=ids[0].numpy())
    return model, trace


def test_gradients_on_a_tiny_llama_have_the_right_shapes(tiny_llama):
    from whytoken.adapters.attribution import target_gradients

    model, trace = tiny_llama
    grads = target_gradients(TinyAdapter(model), trace, 6)
    assert grads.row == 5 and grads.token_id == 17
    assert len(grads.attentions) == 3 and all(a.shape == (3, 6, 6) for a in grads.attentions)
    assert all(g.shape == (3, 6, 6) for g in grads.attention_grads)
    assert any(np.abs(g).sum() > 0 for g in grads.attention_grads)
    # the probabilities differentiated are the model's own attention on the prefix
    assert np.allclose(grads.attentions[0], trace.attentions[0][:, :6, :6], atol=1e-5)
    assert grads.embedding_grad_x_input.shape == (6,) and np.all(grads.embedding_grad_x_input_l2 >= 0)


@pytest.mark.parametrize("name", ["relevancy", "grad-x-input", "rollout", "attention"])
def test_every_method_runs_on_a_tiny_llama(name, tiny_llama):
    model, trace = tiny_llama
    result = get_baseline(name).attribute(trace, 6, model=TinyAdapter(model))
    assert result.candidates == (1, 2, 3, 4, 5)
    assert np.all(np.isfinite(result.scores))
    if name in ("relevancy", "rollout", "attention"):
        assert np.all(np.asarray(result.scores) >= 0)
    if name in ("relevancy", "grad-x-input"):
        assert result.forward_passes == 1


def test_relevancy_of_a_one_layer_model_matches_its_closed_form(monkeypatch):
    """One layer: R = I + mean_h (dlogit/dA * A)^+, with dlogit/dA checked by central differences."""
    import transformers.models.llama.modeling_llama as llama
    from transformers import LlamaConfig, LlamaForCausalLM

    from whytoken.adapters.attribution import logit_gradients

    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, attn_implementation="eager")
    model = LlamaForCausalLM(config).double().eval()
    inputs = {"input_ids": torch.tensor([[1, 4, 9, 2]])}
    grads = logit_gradients(model, inputs, row=3, token_id=5)
    a, g = grads.attentions[0], grads.attention_grads[0]
    closed = np.eye(4)[3] + np.clip(g * a, 0, None).mean(0)[3]
    assert np.allclose(relevancy_map(grads.attentions, grads.attention_grads)[3], closed)

    direction = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 2, 4, 4))).tril()
    original = llama.eager_attention_forward

    def logit_with_attention_shift(eps):
        def shifted(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
            key_states = llama.repeat_kv(key, module.num_key_value_groups)
            value_states = llama.repeat_kv(value, module.num_key_value_groups)
            weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
            if attention_mask is not None:
                weights = weights + attention_mask
            weights = torch.softmax(weights, dim=-1) + eps * direction
            return torch.matmul(weights, value_states).transpose(1, 2).contiguous(), weights

        monkeypatch.setattr(llama, "eager_attention_forward", shifted)
        with torch.no_grad():
            return float(model(**inputs).logits[0, 3, 5])

    eps = 1e-4
    numeric = (logit_with_attention_shift(eps) - logit_with_attention_shift(-eps)) / (2 * eps)
    monkeypatch.setattr(llama, "eager_attention_forward", original)
    assert numeric == pytest.approx(float((g * direction[0].numpy()).sum()), rel=1e-3, abs=1e-6)


@pytest.fixture(scope="module")
def tiny_adapter_trace():
    """A tiny random Llama behind a real ModelAdapter (word-level tokenizer, no hub)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from whytoken.adapters import load_model

    words = ["<s>", "</s>", "<unk>", "the", "capital", "of", "france", "is", "paris", "a", "b", "c"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf_tokenizer = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                           unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, attn_implementation="eager",
                         bos_token_id=0, eos_token_id=1)
    adapter = load_model(LlamaForCausalLM(config), hf_tokenizer)
    trace = adapter.trace(prompt="the capital of france is", max_new_tokens=2, layers="all", chat_template=False,
                          stop_at_eos=False)
    return adapter, trace


def test_gradients_through_a_model_adapter_use_the_replayed_inputs(tiny_adapter_trace):
    from whytoken.adapters.attribution import target_gradients

    adapter, trace = tiny_adapter_trace
    t = trace.generated[-1].position
    grads = target_gradients(adapter, trace, t)
    assert grads.row == t - 1 and grads.token_id == trace.generated[-1].token_id
    for layer, attention in enumerate(grads.attentions):
        assert np.allclose(attention, trace.attentions[layer][:, :t, :t], atol=1e-5)


@pytest.mark.parametrize("name", ["attention", "rollout", "relevancy", "grad-x-input", "random"])
def test_every_baseline_runs_through_a_model_adapter(name, tiny_adapter_trace):
    adapter, trace = tiny_adapter_trace
    result = get_baseline(name).attribute(trace, -1)
    assert sorted(result.ranking) == list(candidate_positions(trace, -1))
    assert np.all(np.isfinite(result.scores))
