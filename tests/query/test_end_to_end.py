"""explain() on real transformers models: tiny random LLaVA / Llama from configs, and SmolLM2-135M.

Random models explain nothing meaningful, so these tests check what must hold
for any model: every reported set really changes the target when removed
(checked again, independently, through the adapter), the search never
removes the sink or special tokens by default, the sets are minimal among
the candidates tried, and the result survives JSON and renders as a report.
"""

from __future__ import annotations

import pytest

from tests.adapters import tiny
from whytoken.query import Explanation, explain
from whytoken.report import render_report

torch = pytest.importorskip("torch")


def check_invariants(result: Explanation, trace, adapter) -> None:
    target = result.target.position
    first = trace.positions[0].index
    special = {p.index for p in trace.positions if p.kind.value == "special"}
    tried_sizes = set()
    for head in result.heads:
        for c in head.candidates:
            assert target not in c.positions
            assert first not in c.positions and not (special & set(c.positions))
            if c.verified is not None:
                tried_sizes.add(len(c.positions))
    if result.status == "explained":
        size = result.explaining_set.size
        assert all(s.size == size and s.verified for s in result.minimal_sets)
        assert max(tried_sizes) == size  # the search stopped at the first size with a verified set
        for s in result.minimal_sets:
            again = adapter.predict(trace, target, removed=list(s.positions))
            assert again.top_token_id != result.target.token_id, f"{s.positions} does not change the target"
            assert again.top_token_id == s.outcome.top_token_id
        # members carry their token's kind, text and (for patches) grid cell
        for m in result.explaining_set.members:
            pos = trace.positions[m.position]
            assert m.kind == pos.kind.value and m.text == pos.text and m.patch == pos.patch
    else:
        assert result.status == "not-explained" and result.explaining_set is None
    assert result.search.n_interventions <= result.search.n_unique
    assert Explanation.from_json(result.to_json()) == result


@pytest.mark.slow
def test_tiny_llava(tmp_path):
    from whytoken.adapters import load_model

    model, processor = tiny.tiny_llava(seed=1)
    adapter = load_model(model, processor)
    trace = adapter.trace(image=tiny.random_image(32, 32), prompt="what color is the cat", max_new_tokens=2,
                          layers=(-1,), stop_at_eos=False)
    assert trace.positions_of("image_patch")
    result = explain(trace, trace.generated[0].position, max_set_size=2, max_candidates=64)
    check_invariants(result, trace, adapter)
    assert result.provenance["learner"] == "ordered-icd"
    assert result.provenance["n_samples"] == trace.model_info["head_dim"]
    assert len(result.heads) == trace.model_info["n_heads"]
    html = render_report(result, image=trace.images[0])
    assert "data:image/png;base64," in html


@pytest.mark.slow
def test_tiny_llama_saved_trace_needs_model(tmp_path):
    from whytoken.adapters import load_model
    from whytoken.adapters.trace import Trace
    from whytoken.errors import ExplanationError

    model, tokenizer = tiny.tiny_llama(seed=3)
    adapter = load_model(model, tokenizer)
    trace = adapter.trace(prompt="the cat sits on the mat and the dog sees the", max_new_tokens=2, layers=(-1,),
                          stop_at_eos=False)
    loaded = Trace.load(trace.save(tmp_path / "t.safetensors"))
    with pytest.raises(ExplanationError, match="model="):
        explain(loaded, -1)
    result = explain(loaded, -1, model=adapter, criterion="prob-drop", max_set_size=2)
    assert result.provenance["criterion"] == "prob-drop"
    if result.status == "explained":
        for s in result.minimal_sets:
            assert s.outcome.target_prob_after < 0.5 * result.target.prob
    live = explain(trace, -1, max_set_size=1)
    check_invariants(live, trace, adapter)


@pytest.fixture(scope="module")
def smollm2():
    from whytoken.adapters import load_model
    from whytoken.errors import CheckpointError

    try:
        adapter = load_model("smollm2-135m-instruct")
    except CheckpointError as err:
        pytest.skip(f"SmolLM2 weights not installed ({err}); run scripts/setup_env.py")
    trace = adapter.trace(prompt="The capital of France is", max_new_tokens=1, chat_template=False, layers=(-1,))
    return adapter, trace


@pytest.mark.pretrained
@pytest.mark.slow
def test_smollm2_capital_of_france(smollm2):
    adapter, trace = smollm2
    assert trace.generated[0].text == " Paris"
    result = explain(trace, " Paris")
    check_invariants(result, trace, adapter)
    # measured: removing any one of " capital", " of", " France" flips " Paris"; "The" is the attention sink
    assert result.status == "explained" and result.explaining_set.size == 1
    found = {s.positions for s in result.minimal_sets}
    assert found <= {(1,), (2,), (3,)} and found
    assert all(m.kind == "prompt_text" for s in result.minimal_sets for m in s.members)
    assert result.modality == {"image_patch": 0, "prompt_text": 1, "generated": 0}
    assert result.search.exhaustive_interventions == 4  # the 4 removable words " capital" .. " is"


@pytest.mark.pretrained
@pytest.mark.slow
def test_smollm2_sink_only_with_include_special(smollm2):
    adapter, trace = smollm2
    # measured: removing the first token "The" alone turns " Paris" into " the"
    assert adapter.predict(trace, 5, removed=[0]).changed
    default = explain(trace, " Paris", max_set_size=1, max_range=None)
    assert all(0 not in c.positions for h in default.heads for c in h.candidates)
    result = explain(trace, " Paris", include_special=True, max_set_size=1, max_range=None)
    assert result.status == "explained"
    if any(0 in h.pds_depth for h in result.heads):  # the graph reaches the sink: it is tried and verifies
        assert (0,) in {s.positions for s in result.minimal_sets}
