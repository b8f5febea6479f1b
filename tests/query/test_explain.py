"""Oracle-style tests of explain(): fake models with known behaviour, attention with a known graph."""

from __future__ import annotations

import dataclasses
import math

import pytest

from whytoken.errors import (
    ExplanationError,
    InvalidParameterError,
    LayerError,
    TargetError,
    UnknownLearnerError,
    UnknownPolicyError,
)
from whytoken.query import AnswerExplanation, Explanation, explain, exhaustive_passes, get_criterion

TARGET = 10  # the generated position of the fixtures in conftest.py


def test_returns_every_verified_single_ranked_by_effect(two_causes_trace, kit):
    # both 3 and 7 change the target; removing 7 hurts it more, so 7 ranks first whatever the graph says
    model = kit.FakeModel(lambda removed: (bool(removed & {3, 7}), 0.05 if 7 in removed else
                                           (0.2 if 3 in removed else 0.8)))
    result = explain(two_causes_trace, TARGET, layer=1, model=model)
    assert result.status == "explained"
    assert [s.positions for s in result.explaining_sets] == [(7,), (3,)]
    best = result.explaining_set
    assert best.verified and best.irreducible and best.globally_minimal and best.claim() == "minimal"
    assert best.outcome.effect == pytest.approx(1 - 0.05 / 0.8)
    assert best.outcome.top_token_text == " no"
    assert "minimal explaining set" in result.message and "drops by 94%" in result.message
    assert result.modality == {"image_patch": 0, "prompt_text": 1, "generated": 0}
    assert best.members[0].log10_p_value < 0  # dependent on the target, in log space


def test_budget_accounting(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model)
    s = result.search
    assert s.passes_used == len(model.sets) == len(result.checks) <= s.max_passes == 300
    assert sum(s.passes_by_stage.values()) == s.passes_used
    assert set(s.passes_by_stage) <= {"singles", "minimality"}
    assert s.pool_size == 8 and s.exhaustive_passes == 8  # prompt tokens 1..8 (9 predicted the target), size 1
    assert s.passes_used <= s.exhaustive_passes
    # what was left of the exhaustive search was cheap, so it was finished: every changing single is listed
    assert {x.positions for x in result.explaining_sets} == {(3,), (7,)}
    assert s.policy == "graph-guided" and s.stopped == "done"
    assert s.pool_changes_target is None  # not needed: a single token changed the target
    assert len({frozenset(x) for x in model.sets}) == len(model.sets)  # no set sent twice


def test_single_token_effects_are_the_measured_drops(two_causes_trace, kit):
    after = {3: 0.2, 5: 0.6, 7: 0.4}
    model = kit.FakeModel(lambda removed: (False, min([after.get(r, 0.8) for r in removed] or [0.8])))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, max_set_size=1)
    assert result.status == "not-explained"
    effects = result.single_token_effects
    assert all(effects[p] == pytest.approx(1 - after.get(p, 0.8) / 0.8) for p in effects)
    assert list(effects)[:3] == [3, 7, 5]  # strongest first
    assert Explanation.from_json(result.to_json()).single_token_effects == effects
    assert explain(two_causes_trace, TARGET, layer=1, verify=False).single_token_effects == {}


def test_conjunctive_cause_is_found_and_irreducible(two_causes_trace, kit):
    model = kit.FakeModel(kit.contains_all({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model)
    assert [s.positions for s in result.explaining_sets] == [(3, 7)]
    best = result.explaining_set
    assert best.irreducible is True and best.globally_minimal is True  # all 8 singles were checked
    assert best.claim() == "minimal"
    assert result.search.exhaustive_passes == exhaustive_passes(8, 2) == 36
    assert result.search.passes_used < 36
    member = best.members[0]
    assert member.log10_p_value_given_rest is not None and member.log10_p_value_given_rest <= 0


def test_no_explanation_is_a_result_with_structured_hints(two_causes_trace, kit):
    model = kit.FakeModel(lambda removed: (False, 0.8))
    result = explain(two_causes_trace, TARGET, layer=1, model=model)
    assert result.status == "not-explained" and result.explaining_set is None and result.explaining_sets == ()
    assert result.verified is False
    assert result.search.pool_changes_target is False
    assert "even removing all 8 candidate tokens" in result.message
    hints = {h.parameter: h for h in result.hints}
    assert hints["criterion"].value == "prob-drop" and hints["criterion"].cli() == "--criterion prob-drop"
    assert hints["include_special"].cli() == "--include-special"
    assert "n_samples" not in result.message
    again = explain(two_causes_trace, TARGET, layer=1, model=model, criterion="prob-drop", include_special=True)
    assert {h.parameter for h in again.hints}.isdisjoint({"criterion", "include_special"})


def test_budget_exhausted_suggests_a_larger_budget(two_causes_trace, kit):
    model = kit.FakeModel(kit.contains_all({3, 7, 5}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, max_passes=3)
    assert result.search.passes_used <= 3
    if result.status == "not-explained":
        assert result.search.stopped == "budget"
        assert any(h.parameter == "max_passes" and h.value == 6 for h in result.hints)


def test_sink_and_special_tokens_are_not_removable_by_default(kit):
    trace = kit.make_trace([{0: 0.6, 4: 0.4}])
    model = kit.FakeModel(kit.intersects({0}))  # the first position behaves as an attention sink
    result = explain(trace, TARGET, layer=1, model=model)
    assert result.status == "not-explained"
    assert all(0 not in s for s in model.sets)
    included = explain(trace, TARGET, layer=1, model=kit.FakeModel(kit.intersects({0})), include_special=True)
    assert included.explaining_set.positions == (0,)
    assert included.explaining_set.members[0].kind == "special"


def test_pool_restricts_the_removable_kinds(kit):
    trace = kit.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}], with_image=True)  # 1..4 are image patches
    model = kit.FakeModel(kit.intersects({2, 7}))
    image = explain(trace, TARGET, layer=1, model=model, pool="image")
    assert image.explaining_set.positions == (2,) and all(set(s) <= {1, 2, 3, 4} for s in model.sets)
    text = explain(trace, TARGET, layer=1, model=kit.FakeModel(kit.intersects({2, 7})), pool="text")
    assert text.explaining_set.positions == (7,)
    given = explain(trace, TARGET, layer=1, model=kit.FakeModel(kit.intersects({2, 7})), pool=[7, 8])
    assert given.search.pool_size == 2 and given.provenance["pool"] == [7, 8]
    with pytest.raises(InvalidParameterError, match="pool"):
        explain(trace, TARGET, layer=1, verify=False, pool="images")
    with pytest.raises(InvalidParameterError, match="pool positions"):
        explain(trace, TARGET, layer=1, verify=False, pool=[TARGET])


def test_probability_criterion(kit):
    trace = kit.make_trace([{3: 0.9, 0: 0.1}])
    weakens = lambda removed: (False, 0.3 if 3 in removed else 0.8)  # top token stays, probability drops
    strict = explain(trace, TARGET, layer=1, model=kit.FakeModel(weakens))
    assert strict.status == "not-explained"
    loose = explain(trace, TARGET, layer=1, model=kit.FakeModel(weakens), criterion="prob-drop")
    assert loose.explaining_set.positions == (3,)
    assert loose.explaining_set.outcome.effect == pytest.approx(1 - 0.3 / 0.8)
    assert loose.provenance["criterion"] == "prob-drop" and loose.provenance["criterion_params"] == {"fraction": 0.5}
    tight = explain(trace, TARGET, layer=1, model=kit.FakeModel(weakens),
                    criterion=get_criterion("prob-drop", fraction=0.2))
    assert tight.status == "not-explained"


def test_unverified_returns_graph_candidates(two_causes_trace):
    result = explain(two_causes_trace, TARGET, layer=1, verify=False)
    assert result.status == "unverified" and result.verified is None
    assert {s.positions for s in result.explaining_sets} >= {(3,), (5,), (7,)}
    assert all(s.verified is None and s.irreducible is None and s.globally_minimal is None
               for s in result.explaining_sets)
    assert result.explaining_set.claim() == "unverified"
    assert result.search.passes_used == 0 and result.search.stopped == "unverified"


def test_verification_without_a_model_is_a_clear_error(two_causes_trace):
    with pytest.raises(ExplanationError, match="model=load_model"):
        explain(two_causes_trace, TARGET, layer=1)


def test_model_defaults_to_the_traces_adapter(kit):
    model = kit.FakeModel(kit.intersects({3}))
    trace = kit.make_trace([{3: 0.9, 0: 0.1}], adapter=model)
    assert explain(trace, -1, layer=1).explaining_set.positions == (3,)
    assert model.calls >= 1


def test_max_range_limits_the_tree(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, max_range=1)
    assert all(max(h.pds_depth.values()) <= 1 for h in result.heads)


def test_max_nodes_prunes_by_the_predicting_rows_attention(two_causes_trace):
    # the predicting row (position 9) puts mean attention 0.33 on 3, 0.30 on 5 and 0.27 on 7 over the heads
    result = explain(two_causes_trace, TARGET, layer=1, verify=False, max_nodes=2)
    assert all(sorted(h.pag.nodes) == [3, 5, 9] for h in result.heads)
    assert result.provenance["max_nodes"] == 2


def test_image_patches_carry_their_cells(kit):
    trace = kit.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}], with_image=True)
    result = explain(trace, TARGET, layer=1, model=kit.FakeModel(kit.contains_all({2, 7})))
    assert result.explaining_set.positions == (2, 7)
    patch = result.explaining_set.members[0]
    assert patch.kind == "image_patch" and patch.patch == (0, 1)
    assert result.modality == {"image_patch": 1, "prompt_text": 1, "generated": 0}
    assert [t.image_index for t in result.tokens if t.kind == "image_patch"] == [0, 0, 0, 0]


def test_provenance_and_timings(two_causes_trace, kit):
    result = explain(two_causes_trace, TARGET, layer=-1, model=kit.FakeModel(kit.intersects({3})), seed=7)
    prov = result.provenance
    assert prov["layer"] == 1 and prov["heads"] == [0, 1, 2]
    assert prov["n_samples"] == 192  # the fixture records head_dim 64 and 3 heads: the hidden size
    assert prov["learner"] == "ordered-icd" and prov["target_row"] == "predicting"
    assert prov["seed"] == 7 and prov["intervention"] == "mask" and prov["policy"] == "graph-guided"
    assert prov["max_passes"] == 300 and prov["pool"] == "all"
    assert set(prov["versions"]) >= {"whytoken", "transformers", "torch"}
    assert set(result.timings) >= {"learn", "verify", "total"}
    assert all(h.n_ci_tests > 0 for h in result.heads)
    assert result.attention_row == TARGET - 1 and len(result.attention[0]) == TARGET + 1


def test_predicting_row_is_the_default_target_node(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, max_set_size=1)
    assert result.target_node == TARGET - 1 and result.target.position == TARGET
    assert all(TARGET - 1 not in s and TARGET not in s for s in model.sets)
    assert all(h.pds_depth.get(TARGET - 1) == 0 and TARGET not in h.pag for h in result.heads)
    own = explain(two_causes_trace, TARGET, layer=1, verify=False, target_row="generated")
    assert own.target_node == TARGET and own.provenance["target_row"] == "generated"
    with pytest.raises(InvalidParameterError, match="target_row"):
        explain(two_causes_trace, TARGET, layer=1, verify=False, target_row="last")


def test_progress_callback(two_causes_trace, kit):
    seen = []
    explain(two_causes_trace, TARGET, layer=1, model=kit.FakeModel(kit.intersects({3})),
            progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert [s for s in seen if s[0] == "learn"] == [("learn", 1, 3), ("learn", 2, 3), ("learn", 3, 3)]
    verify = [s for s in seen if s[0] == "verify"]
    assert verify and all(total == 300 for _, _, total in verify)


def test_policy_choice(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, policy="exhaustive")
    assert result.search.policy == "exhaustive" and result.search.passes_used == 8
    assert {s.positions for s in result.explaining_sets} == {(3,), (7,)}
    with pytest.raises(UnknownPolicyError, match="graph-guided"):
        explain(two_causes_trace, TARGET, layer=1, verify=False, policy="greedy-ish")


# ---------------------------------------------------------------------- targets
def test_default_target_and_all(kit):
    trace = kit.make_trace([{3: 0.9, 0: 0.1}])
    model = kit.FakeModel(kit.intersects({3}))
    first = explain(trace, layer=1, model=model)
    assert first.target.position == TARGET and first.target_reason == "the first generated token"
    answer = explain(trace, "all", layer=1, model=kit.FakeModel(kit.intersects({3})))
    assert isinstance(answer, AnswerExplanation) and len(answer) == 1
    assert answer[0].explaining_set.positions == (3,) and answer.chains == ()


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("target, match", [
    (99, "out of range"), (4, "holds an input token"), (-2, "-1..-1"), ("Paris", "not in the output"),
    (1.5, "must be a position"),
])
def test_bad_target(two_causes_trace, target, match):
    with pytest.raises(TargetError, match=match) as info:
        explain(two_causes_trace, target, layer=1, verify=False)
    assert "' yes'" in str(info.value)  # the generated tokens are listed


def test_target_by_text(two_causes_trace):
    assert explain(two_causes_trace, "yes", layer=1, verify=False).target.position == TARGET


@pytest.mark.parametrize("layer, match", [(5, "out of range"), (0, "not traced")])
def test_bad_layer(two_causes_trace, layer, match):
    with pytest.raises(LayerError, match=match):
        explain(two_causes_trace, TARGET, layer=layer, verify=False)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, math.nan, "0.05"])
def test_bad_alpha(two_causes_trace, alpha):
    with pytest.raises(InvalidParameterError, match="alpha"):
        explain(two_causes_trace, TARGET, layer=1, alpha=alpha, verify=False)


def test_bad_heads(two_causes_trace):
    with pytest.raises(InvalidParameterError, match="no heads selected"):
        explain(two_causes_trace, TARGET, layer=1, heads=[], verify=False)
    with pytest.raises(LayerError, match="0..2"):
        explain(two_causes_trace, TARGET, layer=1, heads=[3], verify=False)


def test_unknown_method(two_causes_trace):
    with pytest.raises(UnknownLearnerError, match="ordered-icd"):
        explain(two_causes_trace, TARGET, layer=1, method="icdd", verify=False)


@pytest.mark.parametrize("name, value", [("max_set_size", 0), ("max_passes", 0), ("max_passes", 2.5),
                                         ("batch_size", -1), ("max_range", True)])
def test_bad_limits(two_causes_trace, name, value):
    with pytest.raises(InvalidParameterError, match=name):
        explain(two_causes_trace, TARGET, layer=1, verify=False, **{name: value})


def test_bad_criterion_parameter(two_causes_trace):
    with pytest.raises(InvalidParameterError, match="prob-drop fraction"):
        explain(two_causes_trace, TARGET, layer=1, criterion=get_criterion("prob-drop", fraction=1.5))


def test_n_samples_by_feature_dimension(two_causes_trace):
    assert explain(two_causes_trace, TARGET, layer=1, verify=False, n_samples="head_dim").provenance["n_samples"] == 64
    widened = dataclasses.replace(two_causes_trace, model_info={**two_causes_trace.model_info, "hidden_size": 256})
    assert explain(widened, TARGET, layer=1, verify=False).provenance["n_samples"] == 256
    bare = dataclasses.replace(two_causes_trace, model_info={"n_layers": 2, "is_causal": True})
    with pytest.raises(ExplanationError, match="hidden_size"):
        explain(bare, TARGET, layer=1, verify=False)
    for bad in ("hidden", 0, True, 2.5, 4):
        with pytest.raises(InvalidParameterError, match="n_samples"):
            explain(two_causes_trace, TARGET, layer=1, verify=False, n_samples=bad)


def test_max_cond_size_caps_the_learner_and_is_recorded(two_causes_trace):
    capped = explain(two_causes_trace, TARGET, layer=1, verify=False, max_cond_size=0)
    default = explain(two_causes_trace, TARGET, layer=1, verify=False)
    assert capped.provenance["max_cond_size"] == 0 and default.provenance["max_cond_size"] == 3
    n = len(capped.heads[0].pag)
    assert all(h.n_ci_tests <= n * (n - 1) // 2 for h in capped.heads)
    assert sum(h.n_ci_tests for h in capped.heads) < sum(h.n_ci_tests for h in default.heads)
    with pytest.raises(InvalidParameterError, match="max_cond_size"):
        explain(two_causes_trace, TARGET, layer=1, verify=False, max_cond_size=-1)


def test_a_degenerate_head_is_left_out_and_recorded(kit):
    import numpy as np

    trace = kit.make_trace([{3: 0.9, 0: 0.1}, {3: 0.9, 0: 0.1}])
    attention = np.array(trace.attentions[1])
    attention[1] = 1.0 / attention.shape[-1]  # every row equal: every partial correlation is undefined
    degenerate = dataclasses.replace(trace, attentions={1: attention.astype(np.float32)})
    result = explain(degenerate, TARGET, layer=1, model=kit.FakeModel(kit.intersects({3})))
    assert result.provenance["heads"] == [0] and "1" in result.provenance["skipped_heads"]
    assert result.explaining_set.positions == (3,)
    only = dataclasses.replace(degenerate, attentions={1: attention[1:].astype(np.float32)})
    from whytoken.errors import InvalidAttentionError

    with pytest.raises(InvalidAttentionError, match="head 0"):
        explain(only, TARGET, layer=1, verify=False)
