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
    for check in result.checks:
        assert target not in check.positions
        assert first not in check.positions and not (special & set(check.positions))
    assert result.search.passes_used == len(result.checks) <= result.search.max_passes
    assert len({c.positions for c in result.checks}) == len(result.checks)  # no removal sent twice
    if result.status == "explained":
        size = result.explaining_set.size
        assert all(s.size == size and s.verified for s in result.explaining_sets)
        assert all(s.size > size for s in result.other_sets)
        for s in result.explaining_sets + result.other_sets:
            again = adapter.predict(trace, target, removed=list(s.positions))
            assert again.top_token_id != result.target.token_id, f"{s.positions} does not change the target"
            assert again.top_token_id == s.outcome.top_token_id
            if s.irreducible:  # every subset with one member fewer was checked and did not change it
                checked = {c.positions: c.changed for c in result.checks}
                for m in s.positions:
                    rest = tuple(p for p in s.positions if p != m)
                    assert not rest or checked.get(rest) is False
        for m in result.explaining_set.members:
            pos = trace.positions[m.position]
            assert m.kind == pos.kind.value and m.text == pos.text and m.patch == pos.patch
    else:
        assert result.status == "not-explained" and result.explaining_set is None
    assert Explanation.from_json(result.to_json()) == result


@pytest.mark.slow
def test_tiny_llava(tmp_path):
    from whytoken.adapters import load_model

    model, processor = tiny.tiny_llava(seed=1)
    adapter = load_model(model, processor)
    trace = adapter.trace(image=tiny.random_image(32, 32), prompt="what color is the cat", max_new_tokens=2,
                          layers=(-1,), stop_at_eos=False)
    assert trace.positions_of("image_patch")
    result = explain(trace, trace.generated[0].position, max_passes=64)
    check_invariants(result, trace, adapter)
    assert result.provenance["learner"] == "ordered-icd"
    assert result.provenance["n_samples"] == trace.model_info["hidden_size"]
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
    result = explain(loaded, -1, model=adapter, criterion="prob-drop", max_passes=40)
    assert result.provenance["criterion"] == "prob-drop"
    if result.status == "explained":
        for s in result.explaining_sets:
            assert s.outcome.target_prob_after < 0.5 * result.target.prob
    live = explain(trace, -1, max_set_size=1, max_passes=40)
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
    found = {s.positions for s in result.explaining_sets}
    assert found <= {(1,), (2,), (3,)} and found
    # ranked by measured effect: " France" (position 3) leaves " Paris" at p = 0.002, the strongest drop
    assert result.explaining_set.positions == (3,) and result.explaining_set.claim() == "minimal"
    assert all(m.kind == "prompt_text" for s in result.explaining_sets for m in s.members)
    assert result.modality == {"image_patch": 0, "prompt_text": 1, "generated": 0}
    # the removable words " capital", " of", " France"; " is" predicted " Paris": it is the target node
    assert result.search.exhaustive_passes == 3 and result.target_node == 4
    assert result.search.passes_used <= 3


@pytest.mark.pretrained
@pytest.mark.slow
def test_smollm2_sink_only_with_include_special(smollm2):
    adapter, trace = smollm2
    # measured: removing the first token "The" alone turns " Paris" into " the"
    assert adapter.predict(trace, 5, removed=[0]).changed
    default = explain(trace, " Paris", max_set_size=1)
    assert all(0 not in c.positions for c in default.checks)
    result = explain(trace, " Paris", include_special=True, policy="exhaustive")
    assert (0,) in {s.positions for s in result.explaining_sets}
