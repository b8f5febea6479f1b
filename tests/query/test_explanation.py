"""The whytoken.explanation/1 JSON form: round trips, schema checks, load errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.errors import CheckpointError, SchemaError
from whytoken.query import SCHEMA, Explanation, ExplainingSet, InterventionOutcome, Member, explain

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
    assert set(doc["p_values"]) == {"3", "7"}
    assert {"model", "layer", "heads", "alpha", "n_samples", "learner", "criterion", "intervention", "seed",
            "versions"} <= set(doc["provenance"])
    assert [h["head"] for h in doc["heads"]] == [0, 1, 2]
    assert {"n_ci_tests", "learn_seconds", "candidates", "pag"} <= set(doc["heads"][0])


def test_not_explained_round_trip(two_causes_trace, kit, tmp_path):
    result = explain(two_causes_trace, TARGET, layer=1, model=kit.FakeModel(kit.contains_all({3, 7})),
                     max_set_size=1)
    assert Explanation.load(result.save(tmp_path / "e.json")) == result


def test_wrong_schema_and_missing_file(tmp_path, explained):
    doc = explained.to_json()
    doc["schema"] = "whytoken.explanation/99"
    with pytest.raises(SchemaError, match="whytoken.explanation/1"):
        Explanation.from_json(doc)
    with pytest.raises(SchemaError, match="not valid JSON"):
        Explanation.from_json("{")
    broken = explained.to_json()
    del broken["target"]
    with pytest.raises(SchemaError, match="corrupt"):
        Explanation.from_json(broken)
    with pytest.raises(CheckpointError, match="nope.json"):
        Explanation.load(tmp_path / "nope.json")


probabilities = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
members = st.builds(
    Member,
    position=st.integers(0, 500),
    kind=st.sampled_from(["image_patch", "prompt_text", "generated", "special"]),
    text=st.text(max_size=8),
    patch=st.none() | st.tuples(st.integers(0, 30), st.integers(0, 30)),
    pds_distance=st.none() | st.integers(0, 5),
    p_value=st.none() | probabilities,
    p_value_given_rest=st.none() | probabilities,
)
outcomes = st.builds(InterventionOutcome, changed=st.booleans(), top_token_id=st.integers(0, 10**6),
                     top_token_text=st.text(max_size=8), top_prob=probabilities,
                     target_prob_after=probabilities, effect=st.floats(-10, 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(members, min_size=1, max_size=4), st.none() | st.booleans(), st.none() | outcomes,
       st.lists(st.integers(0, 31), max_size=4))
def test_explaining_set_json_round_trip(ms, verified, outcome, heads):
    s = ExplainingSet(members=tuple(ms), verified=verified, heads=tuple(heads), outcome=outcome,
                      best_head=heads[0] if heads else None, pds_distance=1, depth_sum=len(ms))
    assert ExplainingSet.from_json(json.loads(json.dumps(s.to_json()))) == s
