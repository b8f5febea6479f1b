"""The world576 training pass: the image prefix once per image, its questions on the cached prefix, the losses.

With the image first (``"<image> {question} answer :"``) every question about
an image shares its first 577 tokens (``<s>`` and 576 image tokens), so a
training step runs the language model over the prefix once per image
(:func:`prefix_pass`), repeats the key/value cache for that image's questions
(gradients flow through the cache) and runs only the ~10 question tokens per
question (:func:`question_pass`). Two savings make it exact and cheaper:

* the vision features are the CLIP tower's last layer (CLS dropped) through
  the projector -- what ``LlavaModel.get_image_features`` returns with
  ``vision_feature_layer=-1`` -- without collecting every layer's hidden states;
* the last language-model layer's outputs at the prefix are never read (the
  question tokens only read that layer's keys and values), so the prefix pass
  runs every layer but the last and computes only the last layer's keys and
  values.

``tests/experiments/test_world576_training.py`` checks that the answer logits
equal a plain ``model(...)`` forward of the full prompt.

Examples
--------
>>> from whytoken.experiments.training.world576_model import build_model, build_tokenizer
>>> model = build_model(build_tokenizer())
>>> image_features(model, torch.zeros(1, 3, 336, 336)).shape
torch.Size([1, 576, 128])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from transformers.cache_utils import DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from whytoken.experiments.training.batches import _pixel_values
from whytoken.experiments.training.world576_batches import (
    PHRASE_MAX_COUNT,
    PROBE_SIZES,
    SILHOUETTE_CELLS,
    ImageItem,
    suffix_batch,
)
from whytoken.experiments.worlds.world576 import KINDS

__all__ = ["CONTEXT_OFFSETS", "image_features", "prefix_pass", "question_pass", "vision_loss", "context_targets",
           "context_loss", "phrase_loss", "training_losses"]

#: Weight of the silhouette term (a mean over 49 cells) inside the vision-probe loss.
SILHOUETTE_WEIGHT = 10.0


def image_features(model: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """Projected image tokens ``(images, 576, hidden)``, equal to ``get_image_features`` with layer -1."""
    encoded = model.model.vision_tower(pixel_values=pixel_values).last_hidden_state
    return model.model.multi_modal_projector(encoded[:, 1:])


def prefix_pass(model: Any, features: torch.Tensor, bos_id: int, dropped: torch.Tensor | None = None
                ) -> tuple[DynamicCache, torch.Tensor]:
    """Run ``<s>`` + image tokens through the language model; return the cache and the prefix attention mask.

    Parameters
    ----------
    features : torch.Tensor
        ``(images, 576, hidden)`` from :func:`image_features`.
    bos_id : int
    dropped : torch.Tensor, optional
        ``(images, 576)`` bool: image tokens removed from attention.

    Returns
    -------
    (DynamicCache, torch.Tensor)
        The cache of every layer (the last layer's keys and values only) and the
        ``(images, 577)`` attention mask of the prefix.
    """
    lm = model.model.language_model
    n = features.shape[0]
    embeds = torch.cat([lm.embed_tokens(torch.full((n, 1), bos_id, dtype=torch.long)), features], dim=1)
    mask = torch.ones(embeds.shape[:2], dtype=torch.long)
    if dropped is not None:
        mask[:, 1:] = (~dropped).long()
    cache = DynamicCache(config=lm.config)
    position_ids = torch.arange(embeds.shape[1]).unsqueeze(0)
    causal = create_causal_mask(config=lm.config, inputs_embeds=embeds, attention_mask=mask, cache=cache,
                                position_ids=position_ids)
    rotary = lm.rotary_emb(embeds, position_ids=position_ids)
    hidden = embeds
    for layer in lm.layers[:-1]:
        hidden = layer(hidden, attention_mask=causal, position_embeddings=rotary, position_ids=position_ids,
                       cache=cache, use_cache=True)
    last = lm.layers[-1]
    attn = last.self_attn
    normed = last.input_layernorm(hidden)
    shape = (*normed.shape[:-1], -1, attn.head_dim)
    keys = attn.k_proj(normed).view(shape).transpose(1, 2)
    values = attn.v_proj(normed).view(shape).transpose(1, 2)
    cos, sin = rotary
    _, keys = apply_rotary_pos_emb(keys, keys, cos, sin)
    cache.update(keys, values, attn.layer_idx)
    return cache, mask


def question_pass(model: Any, cache: DynamicCache, prefix_mask: torch.Tensor, batch: dict[str, torch.Tensor],
                  per_image: int) -> torch.Tensor:
    """Last hidden states ``(rows, length, hidden)`` of the question rows, ``per_image`` rows per image."""
    lm = model.model.language_model
    cache.batch_repeat_interleave(per_image)
    rows, length = batch["ids"].shape
    mask = torch.cat([prefix_mask.repeat_interleave(per_image, dim=0), batch["mask"]], dim=1)
    positions = (prefix_mask.shape[1] + torch.arange(length)).expand(rows, length)
    return lm(input_ids=batch["ids"], attention_mask=mask, position_ids=positions, cache=cache,
              use_cache=True).last_hidden_state


def _heads_loss(logits: torch.Tensor, targets: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    ce = torch.nn.functional.cross_entropy
    parts = torch.split(logits, list(sizes), dim=-1)
    return sum(ce(part.reshape(-1, part.shape[-1]), targets[..., j].reshape(-1), ignore_index=-100)
               for j, part in enumerate(parts))


def vision_loss(probe: torch.nn.Module, features: torch.Tensor, classes: torch.Tensor,
                silhouettes: torch.Tensor) -> torch.Tensor:
    """The vision probe's loss: colour, shape and part cross-entropies plus the silhouette term.

    Parameters
    ----------
    probe : torch.nn.Module
        Linear head with ``sum(PROBE_SIZES["vision"]) + SILHOUETTE_CELLS`` outputs.
    features : torch.Tensor
        ``(images, 576, hidden)`` projector outputs.
    classes : torch.Tensor
        ``(images, 576, 3)`` class targets.
    silhouettes : torch.Tensor
        ``(images, 576, 49)`` covered fractions.
    """
    logits = probe(features)
    n_classes = sum(PROBE_SIZES["vision"])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[..., n_classes:], silhouettes)
    return _heads_loss(logits[..., :n_classes], classes, PROBE_SIZES["vision"]) + SILHOUETTE_WEIGHT * bce


#: Causal neighbours of a patch whose silhouette and colour the context probe reads: (row, col) offsets
#: up-left, up, up-right and left (all earlier in row-major order, so visible under the causal mask).
CONTEXT_OFFSETS: tuple[tuple[int, int], ...] = ((-1, -1), (-1, 0), (-1, 1), (0, -1))


def context_targets(silhouettes: torch.Tensor, colors: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The silhouettes ``(images, 576, 4, 49)`` and colour classes ``(images, 576, 4)`` of each patch's
    :data:`CONTEXT_OFFSETS` neighbours (empty outside the image).

    Examples
    --------
    >>> sil = torch.zeros(1, 4, 49); sil[0, 0] = 1.0  # a 2 x 2 grid whose top-left patch is full
    >>> shapes, cols = context_targets(sil, torch.tensor([[3, 0, 0, 0]]), 2)
    >>> shapes[0, 3, 0].sum().item(), shapes[0, 1, 3].sum().item(), cols[0, 1].tolist()  # (1, 1) sees it up-left
    (49.0, 49.0, [0, 0, 0, 3])
    """
    n, _, cells = silhouettes.shape
    sil = torch.nn.functional.pad(silhouettes.reshape(n, grid, grid, cells), (0, 0, 1, 1, 1, 1))
    col = torch.nn.functional.pad(colors.reshape(n, grid, grid), (1, 1, 1, 1))
    shapes = [sil[:, 1 + dr : 1 + dr + grid, 1 + dc : 1 + dc + grid] for dr, dc in CONTEXT_OFFSETS]
    classes = [col[:, 1 + dr : 1 + dr + grid, 1 + dc : 1 + dc + grid] for dr, dc in CONTEXT_OFFSETS]
    return (torch.stack(shapes, dim=3).reshape(n, grid * grid, len(CONTEXT_OFFSETS), cells),
            torch.stack(classes, dim=3).reshape(n, grid * grid, len(CONTEXT_OFFSETS)))


def context_loss(probe: torch.nn.Module, states: torch.Tensor, silhouettes: torch.Tensor, colors: torch.Tensor,
                 grid: int) -> torch.Tensor:
    """The context probe's loss: each image token's neighbours' silhouettes (BCE) and colours (CE)."""
    shapes, classes = context_targets(silhouettes, colors, grid)
    logits = probe(states)
    k = len(CONTEXT_OFFSETS)
    sil_logits = logits[..., : k * SILHOUETTE_CELLS].reshape(shapes.shape)
    col_logits = logits[..., k * SILHOUETTE_CELLS :].reshape(*classes.shape, -1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(sil_logits, shapes)
    ce = torch.nn.functional.cross_entropy(col_logits.reshape(-1, col_logits.shape[-1]), classes.reshape(-1))
    return SILHOUETTE_WEIGHT * bce + ce


def phrase_loss(probe: torch.nn.Module, states: torch.Tensor, items: Sequence[ImageItem]) -> torch.Tensor:
    """The phrase probe's loss on the shape words of the questions: colours and slots (BCE), count (CE).

    Parameters
    ----------
    probe : torch.nn.Module
        Linear head with ``phrase_width(world) + PHRASE_MAX_COUNT + 1`` outputs.
    states : torch.Tensor
        ``(rows, length, hidden)`` hidden states of the question rows (image-major, as :func:`question_pass`).
    items : sequence of ImageItem
    """
    per_image = len(items[0].questions)
    rows = np.concatenate([it.phrase_positions[:, 0] + k * per_image for k, it in enumerate(items)])
    words = np.concatenate([it.phrase_positions[:, 1] for it in items])
    if len(rows) == 0:
        return states.sum() * 0.0
    logits = probe(states[torch.from_numpy(rows), torch.from_numpy(words)])
    labels = torch.from_numpy(np.concatenate([it.phrase_labels for it in items]))
    counts = torch.from_numpy(np.concatenate([it.phrase_counts for it in items]))
    width = labels.shape[1]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, :width], labels, reduction="sum") / len(rows)
    return bce + torch.nn.functional.cross_entropy(logits[:, width : width + PHRASE_MAX_COUNT + 1], counts)


def training_losses(model: Any, probes: torch.nn.ModuleDict, items: Sequence[ImageItem], vocab: dict[str, int],
                    captured: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Answer, vision-probe, object-probe and slot-probe losses of one step, plus accuracies per kind.

    ``captured`` is filled by forward hooks on the layers ``probe`` and, when
    ``probes`` has a ``context`` head, ``context`` (read after the prefix pass),
    ``query`` and, when ``probes`` has a ``phrase`` head, ``phrase`` (read
    after the question pass).
    """
    features = image_features(model, _pixel_values([it.pixels for it in items]))
    dropped = torch.from_numpy(np.stack([it.dropped for it in items]))
    cache, prefix_mask = prefix_pass(model, features, vocab["<s>"], dropped)
    object_states = captured["probe"][:, 1:]
    context_states = captured["context"][:, 1:] if "context" in probes else None
    batch = suffix_batch(items, vocab)
    hidden = question_pass(model, cache, prefix_mask, batch, len(items[0].questions))
    rows = torch.arange(hidden.shape[0])
    ce = torch.nn.functional.cross_entropy
    answer_logits = model.lm_head(hidden[rows, batch["at"]])
    slot_logits = probes["slot"](captured["query"][rows, batch["at"]])
    slot_targets = torch.from_numpy(np.concatenate([it.slot_targets for it in items]))
    out = {
        "answer": ce(answer_logits, batch["answer"]) + ce(model.lm_head(hidden[rows, batch["at"] + 1]), batch["eos"]),
        "vision": vision_loss(probes["vision"], features, torch.from_numpy(np.stack([it.vision_targets for it in items])),
                              torch.from_numpy(np.stack([it.silhouettes for it in items]))),
        "object": _heads_loss(probes["object"](object_states),
                              torch.from_numpy(np.stack([it.object_targets for it in items])), PROBE_SIZES["object"]),
        "slot": torch.nn.functional.binary_cross_entropy_with_logits(slot_logits, slot_targets, reduction="sum")
        / len(rows),
    }
    if "phrase" in probes:
        out["phrase"] = phrase_loss(probes["phrase"], captured["phrase"], items)
    if context_states is not None:
        classes = torch.from_numpy(np.stack([it.vision_targets for it in items]))
        grid = int(round(classes.shape[1] ** 0.5))
        out["context"] = context_loss(probes["context"], context_states,
                                      torch.from_numpy(np.stack([it.silhouettes for it in items])), classes[..., 0], grid)
    hits = (answer_logits.argmax(-1) == batch["answer"]).float()
    kinds = [q.kind for it in items for q in it.questions]
    for kind in KINDS:
        chosen = torch.tensor([k == kind for k in kinds])
        if chosen.any():
            out[f"acc_{kind}"] = hits[chosen].mean().detach()
    return out
