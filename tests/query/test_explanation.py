"""The whytoken.explanation/2 and whytoken.answer/1 JSON forms: round trips, schema checks, old documents, load errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.errors import CheckpointError, SchemaError
from whytoken.query import SCHEMA, AnswerExplanation, Explanation, ExplainingSet, Hint, InterventionOutcome, Member, explain

TARGET = 10


@pytest.fixture
def explained(two_causes_trace, kit):
    return explain(two_causes_trace, TARGET, layer=1, model=kit.FakeModel(kit.contains_all({3, 7})))


def test_save_load_round_trip(explained, tmp_path):
    path = explained.save(tmp_path / "sub" / "explanation.json")
    loaded = Explanation.load(path)
    assert loaded == explained
    assert loaded.pag == explained.pag and loaded.heads[0].pag == explained.heads[0].pag
    assert loaded.explaining_set.positions == (3, 7)


def test_document_fields(explained):
    doc = json.loads(json.dumps(explained.to_json()))
    assert doc["schema"] == SCHEMA
    assert doc["target"] == {"position": TARGET, "generated_index": 0, "token_id": 42, "text": " yes", "prob": 0.8}
    members = doc["explaining_set"]["members"]
    assert [(m["position"], m["kind"], m["text"]) for m in members] == [(3, "prompt_text", " circle"),
                                                                      (7, "prompt_text", " left")]
    assert doc["explaining_set"]["verified"] is True
    assert doc["pag"]["schema"] == "whytoken.pag/1"
    assert doc["modality"] == {"image_patch": 0, "prompt_text": 2, "generated": 0}
    assert set(doc["log10_p_values"]) == {"3", "7"}
    assert doc["explaining_set"]["claim"] == "minimal" and doc["explaining_set"]["irreducible"] is True
    assert {"model", "weights_fingerprint", "layer", "heads", "alpha", "n_samples", "learner", "criterion",
            "policy", "max_passes", "intervention", "seed", "versions"} <= set(doc["provenance"])
    assert [h["head"] for h in doc["heads"]] == [0, 1, 2]
    assert {"n_ci_tests", "learn_seconds", "pds_depth", "pag"} <= set(doc["heads"][0])
    assert len(doc["checks"]) == doc["search"]["passes_used"] and doc["search"]["max_passes"] == 300


def test_not_explained_round_trip(two_causes_trace, kit, tmp_path):
    result = explain(two_causes_trace, TARGET, layer=1, model=kit.FakeModel(lambda removed: (False, 0.8)))
    assert result.hints and Explanation.load(result.save(tmp_path / "e.json")) == result


def test_answer_round_trip(two_causes_trace, kit, tmp_path):
    answer = explain(two_causes_trace, "all", layer=1, model=kit.FakeModel(kit.intersects({3})))
    assert isinstance(answer, AnswerExplanation)
    loaded = AnswerExplanation.load(answer.save(tmp_path / "answer.json"))
    assert loaded == answer and loaded.at(TARGET).explaining_set.positions == (3,)
    with pytest.raises(SchemaError, match="whytoken.answer/1"):
        AnswerExplanation.from_json({"schema": "whytoken.explanation/2"})


def test_schema_1_documents_still_load(explained):
    doc = explained.to_json()
    old = {k: v for k, v in doc.items() if k not in ("explaining_sets", "checks", "hints", "other_sets")}
    old["schema"] = "whytoken.explanation/1"
    old["minimal_sets"] = doc["explaining_sets"]
    old["search"] = {"sizes_tried": [1, 2], "n_candidate_nodes": 8, "n_proposed": 5, "n_unique": 3,
                     "n_interventions": 12, "n_model_calls": 1, "exhaustive_interventions": 36,
                     "first_verified_at": 4, "truncated": False, "max_set_size": 3, "max_range": 3,
                     "max_candidates": 256}
    for m in old["explaining_set"]["members"]:
        m["p_value"] = 10 ** m.pop("log10_p_value")
        m.pop("log10_p_value_given_rest")
    loaded = Explanation.from_json(old)
    assert loaded.explaining_set.positions == (3, 7) and loaded.search.passes_used == 12
    assert loaded.explaining_set.members[0].log10_p_value == pytest.approx(
        explained.explaining_set.members[0].log10_p_value)


def test_wrong_schema_and_missing_file(tmp_path, explained):
    doc = explained.to_json()
    doc["schema"] = "whytoken.explanation/99"
    with pytest.raises(SchemaError, match="whytoken.explanation/2"):
        Explanation.from_json(doc)
    with pytest.raises(SchemaError, match="not valid JSON"):
        Explanation.from_json("{")
    broken = explained.to_json()
    del broken["target"]
    with pytest.raises(SchemaError, match="corrupt"):
        Explanation.from_json(broken)
    with pytest.raises(CheckpointError, match="nope.json"):
        Explanation.load(tmp_path / "nope.json")
    with pytest.raises(SchemaError, match="JSON object"):
        Explanation.from_json("[1, 2]")


probabilities = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
members = st.builds(
    Member,
    position=st.integers(0, 500),
    kind=st.sampled_from(["image_patch", "prompt_text", "generated", "special"]),
    text=st.text(max_size=8),
    patch=st.none() | st.tuples(st.integers(0, 30), st.integers(0, 30)),
    pds_distance=st.none() | st.integers(0, 5),
    log10_p_value=st.none() | st.floats(-1000, 0) | st.just(float("-inf")),
    log10_p_value_given_rest=st.none() | st.floats(-1000, 0),
)
outcomes = st.builds(InterventionOutcome, changed=st.booleans(), top_token_id=st.integers(0, 10**6),
                     top_token_text=st.text(max_size=8), top_prob=probabilities,
                     target_prob_after=probabilities, effect=st.floats(-10, 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(members, min_size=1, max_size=4), st.none() | st.booleans(), st.none() | outcomes,
       st.lists(st.integers(0, 31), max_size=4), st.none() | st.booleans(), st.none() | st.booleans(),
       st.text(max_size=10))
def test_explaining_set_json_round_trip(ms, verified, outcome, heads, irreducible, minimal, source):
    s = ExplainingSet(members=tuple(ms), verified=verified, heads=tuple(heads), outcome=outcome,
                      best_head=heads[0] if heads else None, pds_distance=1, depth_sum=len(ms),
                      irreducible=irreducible, globally_minimal=minimal, source=source)
    assert ExplainingSet.from_json(json.loads(json.dumps(s.to_json()))) == s


@given(st.sampled_from(["n_samples", "include_special", "max_passes"]), st.integers(1, 500) | st.booleans())
def test_hints_render_for_python_and_the_command_line(parameter, value):
    hint = Hint(parameter, value, "because")
    assert hint.python() == f"{parameter}={value!r}"
    flag = "--" + parameter.replace("_", "-")
    assert hint.cli() in (flag, f"--no-{parameter.replace('_', '-')}", f"{flag} {value}")
    assert Hint.from_json(json.loads(json.dumps(hint.to_json()))) == hint
