"""The ``mask`` intervention removes tokens without renumbering the others.

Reference: physically delete the token and pass the *original* position ids of
the remaining tokens (a gap where the token was). The masked re-run must match
it; renumbering the remaining tokens (the naive deletion) must not.
"""

from __future__ import annotations

import pytest
import torch

from whytoken.adapters import TokenKind, load_model

from .tiny import random_image, tiny_bert, tiny_gpt2, tiny_llama, tiny_qwen2_vl


def _delete_and_run(model, ids, position_ids, drop, **extra):
    keep = [i for i in range(ids.shape[-1]) if i not in drop]
    kwargs = dict(input_ids=ids[:, keep], attention_mask=torch.ones(1, len(keep), dtype=torch.long), use_cache=False)
    if position_ids is not None:
        kwargs["position_ids"] = position_ids[..., keep]
    kwargs.update(extra)
    with torch.no_grad():
        return model(**kwargs).logits.float().softmax(-1)


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2], ids=["llama-rope", "gpt2-absolute"])
def test_masking_equals_deletion_with_fixed_positions_causal(build):
    model, tokenizer = build(seed=2)
    adapter = load_model(model, tokenizer)
    trace = adapter.trace(prompt="the small cat sits on the red mat", max_new_tokens=2, stop_at_eos=False)
    t = trace.generated[-1].position
    g = trace.generated[-1].token_id
    ids = torch.as_tensor(trace.input_ids[:t])[None]
    positions = torch.arange(t)[None]
    for drop in ([2], [1, 4], [t - 2]):
        masked = adapter.predict(trace, t, removed=drop)
        reference = _delete_and_run(model, ids, positions, drop)[0, -1]
        assert masked.original_token_prob_after == pytest.approx(float(reference[g]), rel=1e-4, abs=1e-7)
        assert masked.top_token_id == int(reference.argmax())
        renumbered = _delete_and_run(model, ids, None, drop)[0, -1]
        assert abs(float(renumbered[g]) - masked.original_token_prob_after) > 1e-6  # the test can tell


def test_masking_equals_deletion_with_fixed_positions_encoder():
    model, tokenizer = tiny_bert(seed=2)
    adapter = load_model(model, tokenizer)
    trace = adapter.trace(prompt="the small cat sits [MASK] the red mat")
    t = trace.generated[0].position
    ids = torch.as_tensor(trace.input_ids)[None]
    positions = torch.arange(trace.n_positions)[None]
    for drop in ([2], [1, 6]):
        masked = adapter.predict(trace, t, removed=drop)
        reference = _delete_and_run(model, ids, positions, drop)
        row = t - sum(1 for d in drop if d < t)
        g = trace.generated[0].token_id
        assert masked.original_token_prob_after == pytest.approx(float(reference[0, row, g]), rel=1e-4, abs=1e-7)


def test_masking_keeps_qwen2_vl_mrope_positions_fixed():
    model, processor = tiny_qwen2_vl(seed=2)
    adapter = load_model(model, processor)
    trace = adapter.trace(random_image(32, 48, seed=4), "the small cat sits on the mat", max_new_tokens=2,
                          stop_at_eos=False)
    t = trace.generated[-1].position
    g = trace.generated[-1].token_id
    ids = torch.as_tensor(trace.input_ids)[None]
    image_inputs = adapter._process_images(trace.images)
    mm = (ids == adapter.image_token_id).long()
    full_positions, _ = model.model.get_rope_index(input_ids=ids, mm_token_type_ids=mm,
                                                   image_grid_thw=image_inputs["image_grid_thw"])
    # the image tokens carry 2-D (row, col) rope positions: the three rows differ there
    image_cols = [p.index for p in trace.positions if p.kind is TokenKind.IMAGE_PATCH]
    assert not torch.equal(full_positions[1, 0, image_cols], full_positions[2, 0, image_cols])
    text = [p.index for p in trace.positions if p.kind is TokenKind.PROMPT_TEXT]
    for drop in ([text[1]], [text[0], text[3]]):
        masked = adapter.predict(trace, t, removed=drop)
        reference = _delete_and_run(model, ids[:, :t], full_positions[..., :t], drop,
                                    mm_token_type_ids=mm[:, [i for i in range(t) if i not in drop]], **image_inputs)
        assert masked.original_token_prob_after == pytest.approx(float(reference[0, -1, g]), rel=1e-4, abs=1e-7)
        keep = [i for i in range(t) if i not in drop]
        renumbered, _ = model.model.get_rope_index(input_ids=ids[:, keep], mm_token_type_ids=mm[:, keep],
                                                   image_grid_thw=image_inputs["image_grid_thw"])
        with torch.no_grad():
            shifted = model(input_ids=ids[:, keep], attention_mask=torch.ones(1, len(keep), dtype=torch.long),
                            position_ids=renumbered, mm_token_type_ids=mm[:, keep], use_cache=False,
                            **image_inputs).logits.float().softmax(-1)
        assert abs(float(shifted[0, -1, g]) - masked.original_token_prob_after) > 1e-6  # the test can tell
    # masking image tokens (which cannot be deleted: the features must match the placeholders) still works
    patch_drop = adapter.predict(trace, t, removed=image_cols[:3])
    assert patch_drop.original_token_prob_after != pytest.approx(trace.generated[-1].prob, rel=1e-6)
