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
)
from whytoken.query import Explanation, explain, get_criterion, n_subsets_up_to

TARGET = 10  # the generated position of the fixtures in conftest.py



def test_returns_every_minimal_set_ranked(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model)
    assert result.status == "explained"
    assert [s.positions for s in result.minimal_sets] == [(3,), (7,)]  # 3 is more strongly dependent
    assert result.explaining_set.positions == (3,)
    assert all(s.verified for s in result.minimal_sets)
    first = result.explaining_set
    assert first.pds_distance == 1 and first.heads == (0, 1)
    assert first.members[0].p_value < result.minimal_sets[1].members[0].p_value
    assert result.explaining_set.outcome.top_token_text == " no"
    assert result.modality == {"image_patch": 0, "prompt_text": 1, "generated": 0}


def test_counts_forward_passes_and_dedups_across_heads(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model)
    # heads 0 and 1 propose {3} and {7}; head 2 proposes {5}: 5 proposals, 3 distinct sets, one batch
    assert result.search.n_proposed == 5
    assert result.search.n_unique == 3
    assert result.search.n_interventions == len(model.sets) == 3
    assert sorted(model.sets, key=sorted) == [frozenset({3}), frozenset({5}), frozenset({7})]
    assert result.search.n_model_calls == model.calls == 1
    assert result.search.sizes_tried == (1,)
    assert result.search.first_verified_at == 2  # ranked {5}, {3}, {7}: {5} fails, {3} verifies
    # exhaustive search over the 9 removable prompt tokens, sets of size 1
    assert result.search.n_candidate_nodes == 9
    assert result.search.exhaustive_interventions == 9
    head2 = result.heads[2]
    assert [(c.positions, c.verified) for c in head2.candidates] == [((5,), False)]
    assert head2.minimal_size is None and result.heads[0].minimal_size == 1


def test_single_token_effects_are_the_measured_drops(two_causes_trace, kit):
    # oracle: the fake model's probability after removing each token alone, relative to 0.8
    after = {3: 0.2, 5: 0.6, 7: 0.4}
    model = kit.FakeModel(lambda removed: (False, min([after.get(r, 0.8) for r in removed] or [0.8])))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, max_set_size=1)
    assert result.status == "not-explained"
    effects = result.single_token_effects
    assert list(effects) == [3, 7, 5]  # strongest first
    assert effects == pytest.approx({3: 0.75, 7: 0.5, 5: 0.25})
    records = [c for h in result.heads for c in h.candidates]
    assert all(c.effect == pytest.approx(1 - after[c.positions[0]] / 0.8) for c in records)
    assert Explanation.from_json(result.to_json()).single_token_effects == effects
    unverified = explain(two_causes_trace, TARGET, layer=1, verify=False)
    assert unverified.single_token_effects == {}


def test_conjunctive_cause_needs_a_pair(two_causes_trace, kit):
    model = kit.FakeModel(kit.contains_all({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model)
    assert [s.positions for s in result.minimal_sets] == [(3, 7)]
    assert result.search.sizes_tried == (1, 2)
    assert result.search.n_interventions == 4  # {3}, {7}, {5}; then {3, 7}
    assert result.search.first_verified_at == 4
    assert result.search.exhaustive_interventions == n_subsets_up_to(9, 2) == 45
    member = result.explaining_set.members[0]
    assert member.p_value_given_rest is not None and 0.0 <= member.p_value_given_rest <= 1.0


def test_no_explanation_within_limits_is_a_result(two_causes_trace, kit):
    model = kit.FakeModel(kit.contains_all({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, max_set_size=1)
    assert result.status == "not-explained"
    assert result.explaining_set is None and result.minimal_sets == ()
    assert result.verified is False
    assert "No explanation found" in result.message and "3 candidate set(s)" in result.message
    assert result.search.n_interventions == 3


def test_sink_and_special_tokens_are_not_removable_by_default(kit):
    trace = kit.make_trace([{0: 0.6, 4: 0.4}])
    model = kit.FakeModel(kit.intersects({0}))  # the first position behaves as an attention sink
    result = explain(trace, TARGET, layer=1, model=model)
    assert result.status == "not-explained"
    assert all(0 not in s for s in model.sets)
    included = explain(trace, TARGET, layer=1, model=kit.FakeModel(kit.intersects({0})), include_special=True)
    assert included.explaining_set.positions == (0,)
    assert included.explaining_set.members[0].kind == "special"


def test_probability_criterion(kit):
    trace = kit.make_trace([{3: 0.9, 0: 0.1}])
    weakens = lambda removed: (False, 0.3 if 3 in removed else 0.8)  # top token stays, probability drops
    strict = explain(trace, TARGET, layer=1, model=kit.FakeModel(weakens))
    assert strict.status == "not-explained"
    loose = explain(trace, TARGET, layer=1, model=kit.FakeModel(weakens), criterion="prob-drop")
    assert loose.explaining_set.positions == (3,)
    assert loose.explaining_set.outcome.effect == pytest.approx(1 - 0.3 / 0.8)
    assert loose.provenance["criterion"] == "prob-drop"
    assert loose.provenance["criterion_params"] == {"fraction": 0.5}
    tight = explain(trace, TARGET, layer=1, model=kit.FakeModel(weakens),
                    criterion=get_criterion("prob-drop", fraction=0.2))
    assert tight.status == "not-explained"


def test_unverified_returns_graph_candidates(two_causes_trace):
    result = explain(two_causes_trace, TARGET, layer=1, verify=False)
    assert result.status == "unverified" and result.verified is None
    # head 2's target depends most strongly on 5 (smallest p-value), so {5} ranks first
    assert [s.positions for s in result.minimal_sets] == [(5,), (3,), (7,)]
    assert result.explaining_set.verified is None
    assert result.search.n_interventions == 0


def test_verification_without_a_model_is_a_clear_error(two_causes_trace):
    with pytest.raises(ExplanationError, match="model=load_model"):
        explain(two_causes_trace, TARGET, layer=1)


def test_model_defaults_to_the_traces_adapter(kit):
    model = kit.FakeModel(kit.intersects({3}))
    trace = kit.make_trace([{3: 0.9, 0: 0.1}], adapter=model)
    assert explain(trace, -1, layer=1).explaining_set.positions == (3,)
    assert model.calls == 1


def test_max_range_limits_the_tree(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, max_range=1)
    assert all(max(h.pds_depth.values()) <= 1 for h in result.heads)


def test_max_candidates_truncates(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, max_candidates=1, max_set_size=1)
    assert result.search.truncated
    assert result.status == "not-explained"  # only the best-ranked set, {5}, was tried
    assert model.sets == [frozenset({5})]


def test_max_nodes_prunes_by_the_predicting_rows_attention(two_causes_trace):
    # the predicting row (position 9) attends to itself (0.9) and to the first position (0.1)
    result = explain(two_causes_trace, TARGET, layer=1, verify=False, max_nodes=2)
    assert all(sorted(h.pag.nodes) == [0, 9, TARGET] for h in result.heads)
    assert result.provenance["max_nodes"] == 2


def test_image_patches_carry_their_cells(kit):
    trace = kit.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}], with_image=True)
    result = explain(trace, TARGET, layer=1, model=kit.FakeModel(kit.contains_all({2, 7})))
    assert result.explaining_set.positions == (2, 7)
    patch = result.explaining_set.members[0]
    assert patch.kind == "image_patch" and patch.patch == (0, 1)
    assert result.modality == {"image_patch": 1, "prompt_text": 1, "generated": 0}


def test_provenance_and_timings(two_causes_trace, kit):
    result = explain(two_causes_trace, TARGET, layer=-1, model=kit.FakeModel(kit.intersects({3})), seed=7)
    prov = result.provenance
    assert prov["layer"] == 1 and prov["heads"] == [0, 1, 2]
    assert prov["n_samples"] == 64 and prov["learner"] == "ordered-icd"
    assert prov["seed"] == 7 and prov["intervention"] == "mask"
    assert set(prov["versions"]) >= {"whytoken", "transformers", "torch"}
    assert set(result.timings) >= {"learn", "verify", "total"}
    assert all(h.n_ci_tests > 0 for h in result.heads)
    assert result.attention_row == TARGET - 1 and len(result.attention[0]) == TARGET + 1


def test_predicting_row_stands_for_the_target(two_causes_trace, kit):
    model = kit.FakeModel(kit.intersects({3, 7}))
    result = explain(two_causes_trace, TARGET, layer=1, model=model, target_row="predicting", max_set_size=1)
    assert result.target_node == TARGET - 1 and result.target.position == TARGET
    assert all(TARGET - 1 not in s and TARGET not in s for s in model.sets)
    assert all(h.pds_depth.get(TARGET - 1) == 0 and TARGET not in h.pag for h in result.heads)
    assert result.provenance["target_row"] == "predicting"
    with pytest.raises(InvalidParameterError, match="target_row"):
        explain(two_causes_trace, TARGET, layer=1, verify=False, target_row="last")


def test_progress_callback(two_causes_trace, kit):
    seen = []
    explain(two_causes_trace, TARGET, layer=1, model=kit.FakeModel(kit.intersects({3})),
            progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert [s for s in seen if s[0] == "learn"] == [("learn", 1, 3), ("learn", 2, 3), ("learn", 3, 3)]
    assert ("verify", 3, 3) in seen


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


def test_bad_limits(two_causes_trace):
    with pytest.raises(InvalidParameterError, match="max_set_size"):
        explain(two_causes_trace, TARGET, layer=1, max_set_size=0, verify=False)
    with pytest.raises(InvalidParameterError, match="prob-drop fraction"):
        explain(two_causes_trace, TARGET, layer=1, criterion=get_criterion("prob-drop", fraction=1.5))


def test_n_samples_by_feature_dimension(two_causes_trace):
    # the fixture records head_dim 64 and no hidden size
    assert explain(two_causes_trace, TARGET, layer=1, verify=False, n_samples="head_dim").provenance["n_samples"] == 64
    with pytest.raises(ExplanationError, match="no hidden_size"):
        explain(two_causes_trace, TARGET, layer=1, verify=False, n_samples="hidden_size")
    widened = dataclasses.replace(two_causes_trace, model_info={**two_causes_trace.model_info, "hidden_size": 192})
    assert explain(widened, TARGET, layer=1, verify=False, n_samples="hidden_size").provenance["n_samples"] == 192
    for bad in ("hidden", 0, True, 2.5):
        with pytest.raises(InvalidParameterError, match="n_samples"):
            explain(two_causes_trace, TARGET, layer=1, verify=False, n_samples=bad)


def test_max_cond_size_caps_the_learner_and_is_recorded(two_causes_trace):
    capped = explain(two_causes_trace, TARGET, layer=1, verify=False, max_cond_size=0)
    default = explain(two_causes_trace, TARGET, layer=1, verify=False)
    assert capped.provenance["max_cond_size"] == 0 and default.provenance["max_cond_size"] == 3
    # level 0 only: no test conditions on anything, so no more tests than pairs of nodes
    n = len(capped.heads[0].pag)
    assert all(h.n_ci_tests <= n * (n - 1) // 2 for h in capped.heads)
    assert sum(h.n_ci_tests for h in capped.heads) < sum(h.n_ci_tests for h in default.heads)
    with pytest.raises(InvalidParameterError, match="max_cond_size"):
        explain(two_causes_trace, TARGET, layer=1, verify=False, max_cond_size=-1)


def test_not_explained_with_narrow_heads_suggests_the_hidden_size(two_causes_trace, kit):
    narrow = dataclasses.replace(two_causes_trace, model_info={**two_causes_trace.model_info, "hidden_size": 256})
    never = kit.FakeModel(lambda removed: (False, 0.8))
    small = explain(narrow, TARGET, layer=1, model=never, n_samples=16)
    assert small.status == "not-explained" and "try n_samples='hidden_size' (N = 256)" in small.message
    wide = explain(narrow, TARGET, layer=1, model=never)  # N = head dim 64: no such hint
    assert wide.status == "not-explained" and "n_samples" not in wide.message
