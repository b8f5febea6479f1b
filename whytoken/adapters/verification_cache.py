"""The per-trace verification cache and the cached re-run behind ``predict_batch``.

What :mod:`whytoken.adapters.verification` describes, as code: :func:`trace_state` captures a
trace's language-model input embeddings (image features merged in) and, for causal decoders whose
table entry allows it, the unablated key/value cache, in one forward pass; :func:`run_rows` re-runs
edited rows from their first changed position on top of that prefix, re-encoding only the images a
row edits. The capture is a forward pre-hook on the language model (the spec's ``decoder``), so
every architecture's own merge of image features is reused, not re-implemented; encodings that
need no language model stop the pass there.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from whytoken.adapters.interventions import RowEdit
from whytoken.adapters.verification import MAX_TRACES, PREFIX_MEMORY, pass_overhead, plan_batches, token_budget
from whytoken.errors import AdapterError

if TYPE_CHECKING:  # pragma: no cover
    from whytoken.adapters.base import ModelAdapter
    from whytoken.adapters.trace import Trace

__all__ = ["trace_state", "clear_states", "run_rows"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------- state
@dataclass
class _TraceState:
    """What one trace's re-runs share: unablated decoder inputs and key/value prefix."""

    ids: np.ndarray  # the trace's token ids when built (checked on every use)
    images_key: tuple  # (shape, checksum) per image
    weights: str  # the model's weights fingerprint when built
    device: torch.device
    length: int  # positions covered
    embeds: torch.Tensor  # (1, length, hidden): the language model's input embeddings
    position_ids: torch.Tensor  # (1, length) or (3, 1, length)
    derived: dict[str, torch.Tensor]  # (1, length) each
    kv: list[tuple[torch.Tensor, torch.Tensor]] | None  # per layer (1, kv_heads, length, head_dim)
    prefix_tried: bool  # whether the build ran with the cache on (kv may still be None: refused)
    image_positions: dict[int, np.ndarray]  # image index -> positions of its placeholder tokens
    token_mean: torch.Tensor  # (hidden,) mean of the vocabulary embeddings


class _Captured(Exception):
    """Raised by the capture hook to stop a forward pass at the language model's entry."""


def _capture_hook(store: list[torch.Tensor], stop: bool, module: Any, args: tuple, kwargs: dict) -> None:
    embeds = kwargs.get("inputs_embeds")
    if embeds is None:
        ids = kwargs.get("input_ids")
        if ids is None and args and isinstance(args[0], torch.Tensor):
            if args[0].is_floating_point():
                embeds = args[0]
            else:
                ids = args[0]
        if embeds is None:
            embeds = module.get_input_embeddings()(ids)
    store.append(embeds.detach())
    if stop:
        raise _Captured


def _decoder_inputs(adapter: "ModelAdapter", kwargs: dict[str, Any], *, stop: bool) -> tuple[torch.Tensor, Any]:
    """Run ``adapter.model(**kwargs)`` capturing the language model's input embeddings.

    ``stop=True`` ends the pass there (only the embedding lookup and the vision tower run).
    Returns the embeddings and the model output (None when stopped).
    """
    store: list[torch.Tensor] = []
    handle = adapter.decoder.register_forward_pre_hook(functools.partial(_capture_hook, store, stop),
                                                       with_kwargs=True)
    out = None
    try:
        with torch.no_grad():
            out = adapter.model(**kwargs)
    except _Captured:
        pass
    finally:
        handle.remove()
    if not store:
        raise AdapterError(
            f"the language model at {adapter.spec.decoder!r} was not called during the forward pass of "
            f"{adapter.hf_class}; the architecture spec's decoder path is wrong"
        )
    return store[0], out


def _images_key(trace: "Trace") -> tuple:
    return tuple((im.shape, hashlib.blake2b(np.ascontiguousarray(im).tobytes(), digest_size=16).digest())
                 for im in trace.images)


def _prefix_allowed(adapter: "ModelAdapter") -> bool:
    spec = adapter.spec
    return bool(adapter.verification.reuse_prefix and getattr(spec, "prefix_cache", True) and spec.is_causal
                and spec.attention_pattern == "causal")


def _cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    return list(zip(cache.key_cache, cache.value_cache))  # transformers < 4.56


def _new_cache(kv: Sequence[tuple[torch.Tensor, torch.Tensor]], start: int, rows: int) -> Any:
    from transformers import DynamicCache

    data = [(k[:, :, :start].expand(rows, -1, -1, -1), v[:, :, :start].expand(rows, -1, -1, -1)) for k, v in kv]
    return DynamicCache(data)


def _build_state(adapter: "ModelAdapter", trace: "Trace", weights: str) -> _TraceState:
    from whytoken.adapters.trace import TokenKind

    n = trace.n_positions
    last_target = max((g.position for g in trace.generated), default=n - 1)
    length = last_target if adapter.is_causal else n
    length = max(1, min(length, n))
    replay = adapter._replay(trace.input_ids, trace.images, trace.prompt_length, length)
    kwargs: dict[str, Any] = {
        "input_ids": replay.input_ids,
        "attention_mask": torch.ones_like(replay.input_ids),
        "position_ids": replay.position_ids,
        **replay.derived,
        **replay.image_inputs,
    }
    prefix = _prefix_allowed(adapter)
    if prefix:
        from transformers import DynamicCache

        kwargs.update({"use_cache": True, adapter._cache_kwarg: DynamicCache()})
        if adapter._has_logits_to_keep:
            kwargs["logits_to_keep"] = 1
    else:
        kwargs["use_cache"] = False
    embeds, _ = _decoder_inputs(adapter, kwargs, stop=not prefix)
    adapter._count(model_calls=1, sequences=int(prefix), tokens=length if prefix else 0,
                   full_tokens=length if prefix else 0, images_encoded=len(trace.images))
    kv = None
    if prefix:
        kv = _cache_layers(kwargs[adapter._cache_kwarg])
        if not kv or any(k.shape[-2] != length for k, _ in kv):
            logger.warning("%s: the key/value cache does not hold all %d positions (sliding window?); "
                           "re-running every position instead", adapter.name, length)
            kv = None
    ids = np.asarray(trace.input_ids)
    image_positions: dict[int, list[int]] = {}
    if adapter.image_token_id is not None:
        for p in trace.positions:
            if int(ids[p.index]) == adapter.image_token_id and p.kind in (TokenKind.IMAGE_PATCH, TokenKind.SPECIAL):
                image_positions.setdefault(p.image_index or 0, []).append(p.index)
    token_mean = adapter.decoder.get_input_embeddings().weight.detach().mean(dim=0)
    return _TraceState(
        ids=ids.copy(), images_key=_images_key(trace), weights=weights, device=adapter.device, length=length,
        embeds=embeds[:, :length], position_ids=replay.position_ids, derived=dict(replay.derived), kv=kv,
        prefix_tried=prefix,
        image_positions={i: np.asarray(v, dtype=np.int64) for i, v in image_positions.items()},
        token_mean=token_mean,
    )


def _states(adapter: "ModelAdapter") -> "OrderedDict[int, tuple[weakref.ref, _TraceState]]":
    states = adapter.__dict__.get("_verification_states")
    if states is None:
        states = adapter.__dict__["_verification_states"] = OrderedDict()
    return states


def clear_states(adapter: "ModelAdapter") -> None:
    """Drop every cached trace state of ``adapter``."""
    _states(adapter).clear()


def trace_state(adapter: "ModelAdapter", trace: "Trace") -> _TraceState:
    """The (cached) state of ``trace``, rebuilt when its tokens, images or the weights changed."""
    from whytoken.adapters.identity import weights_fingerprint

    states = _states(adapter)
    key = id(trace)
    weights = weights_fingerprint(adapter.model)
    entry = states.get(key)
    if entry is not None:
        ref, state = entry
        if (ref() is trace and state.weights == weights and state.device == adapter.device
                and (state.prefix_tried or not _prefix_allowed(adapter))
                and np.array_equal(state.ids, trace.input_ids) and state.images_key == _images_key(trace)):
            states.move_to_end(key)
            return state
        del states[key]
    state = _build_state(adapter, trace, weights)
    states[key] = (weakref.ref(trace, lambda _ref, k=key, s=states: s.pop(k, None)), state)
    while len(states) > MAX_TRACES:
        states.popitem(last=False)
    return state


# ------------------------------------------------------------------------------------------- rows
def _edited_images(row: RowEdit, trace: "Trace", every: bool) -> list[int]:
    if row.images is None:
        return list(range(len(trace.images))) if every else []
    return [i for i, (new, old) in enumerate(zip(row.images, trace.images))
            if every or (new is not old and not np.array_equal(new, old))]


def _first_change(row: RowEdit, edited: Sequence[int], state: _TraceState, length: int) -> int:
    starts = [length - 1]
    removed = np.flatnonzero(np.asarray(row.attention_mask)[:length] == 0)
    if removed.size:
        starts.append(int(removed[0]))
    starts.extend(int(p) for p, _ in row.embeddings)
    for i in edited:
        positions = state.image_positions.get(i)
        if positions is not None and positions.size:
            starts.append(int(positions[0]))
    return max(0, min(starts))


def _encode_images(adapter: "ModelAdapter", trace: "Trace", state: _TraceState,
                   jobs: Sequence[tuple[int, np.ndarray]]) -> list[torch.Tensor]:
    """The merged features ``(tokens, hidden)`` of each ``(image index, image)``, batched per image index."""
    out: list[torch.Tensor | None] = [None] * len(jobs)
    by_index: dict[int, list[int]] = {}
    for j, (i, _) in enumerate(jobs):
        by_index.setdefault(i, []).append(j)
    for i, members in by_index.items():
        positions = state.image_positions.get(i)
        if positions is None or not positions.size:
            raise AdapterError(f"image {i} of the trace has no placeholder tokens to re-encode it into")
        ids = torch.as_tensor(state.ids[positions], device=adapter.device)[None].expand(len(members), -1)
        index = torch.as_tensor(positions, device=state.position_ids.device)
        per_row = [adapter._process_images([jobs[j][1]]) for j in members]
        kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "use_cache": False,
                                  "position_ids": state.position_ids[..., index].expand(
                                      *state.position_ids.shape[:-2], len(members), -1)}
        kwargs.update({k: v.expand(len(members), -1) for k, v in
                       adapter._derived_inputs(ids[:1], ids.shape[1]).items()})
        for key in per_row[0]:
            value = torch.cat([r[key] for r in per_row], dim=0).to(adapter.device)
            kwargs[key] = value.to(adapter.dtype) if key == "pixel_values" else value
        embeds, _ = _decoder_inputs(adapter, kwargs, stop=True)
        adapter._count(model_calls=1, images_encoded=len(members))
        for r, j in enumerate(members):
            out[j] = embeds[r]
    return out  # type: ignore[return-value]


def _max_rows(adapter: "ModelAdapter", state: _TraceState, length: int) -> int | None:
    """Rows per pass whose copies of a prefix of up to ``length`` positions fit :data:`PREFIX_MEMORY`."""
    if state.kv is None:
        return None
    row_bytes = sum(k.nbytes + v.nbytes for k, v in state.kv) * length / max(1, state.length)
    device = adapter.device
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        memory = free // 4
    else:
        memory = PREFIX_MEMORY.get(device.type, PREFIX_MEMORY["cpu"])
    return max(1, int(memory // max(1.0, row_bytes)))


def run_rows(adapter: "ModelAdapter", trace: "Trace", rows: Sequence[RowEdit], length: int, logits_row: int,
             batch_size: int | None, mean_groups: dict[int, list[int]]) -> torch.Tensor:
    """Probabilities ``(len(rows), vocab)`` at ``logits_row`` after each row's edits (the cached path)."""
    settings = adapter.verification
    state = trace_state(adapter, trace)
    if length > state.length:
        raise AdapterError(f"the verification cache covers {state.length} positions, {length} were asked for")
    use_prefix = state.kv is not None and _prefix_allowed(adapter)
    edited = [_edited_images(r, trace, every=not settings.encode_images_once) for r in rows]
    starts = [_first_change(r, _edited_images(r, trace, every=False), state, length) if use_prefix else 0
              for r in rows]
    budget = settings.token_budget or token_budget(adapter.device)
    overhead = pass_overhead(adapter.device) if settings.pass_overhead is None else settings.pass_overhead
    plan = plan_batches(starts, length, budget=budget, overhead=overhead,
                        max_rows=_max_rows(adapter, state, length) if use_prefix else None, batch_size=batch_size)
    probs: list[torch.Tensor | None] = [None] * len(rows)
    keep_last = adapter.is_causal and adapter._has_logits_to_keep
    for members in plan:
        start = min(starts[i] for i in members)
        b = len(members)
        embeds = state.embeds[:, start:length].expand(b, -1, -1)
        jobs = [(r, i) for r, m in enumerate(members) for i in edited[m]]
        if jobs or any(rows[m].embeddings for m in members):
            embeds = embeds.clone()
        if jobs:
            features = _encode_images(adapter, trace, state, [(i, rows[members[r]].images[i]  # type: ignore[index]
                                                               if rows[members[r]].images is not None
                                                               else trace.images[i]) for r, i in jobs])
            for (r, i), feats in zip(jobs, features):
                positions = state.image_positions[i]
                if feats.shape[0] != positions.size:
                    raise AdapterError(
                        f"re-encoding image {i} gave {feats.shape[0]} features for {positions.size} image tokens; "
                        "the edited image must keep the original's size"
                    )
                inside = positions[positions >= start]
                embeds[r, torch.as_tensor(inside - start)] = feats[positions.size - inside.size:].to(embeds.dtype)
        for r, m in enumerate(members):
            for position, mode in rows[m].embeddings:
                if mode == "zero":
                    embeds[r, position - start] = 0
                elif mode == "mean":
                    group = mean_groups.get(position)
                    embeds[r, position - start] = (state.embeds[0, group].mean(dim=0) if group
                                                   else state.token_mean)
                else:
                    raise AdapterError(f"unknown embedding edit {mode!r}; expected 'zero' or 'mean'")
        mask = torch.as_tensor(np.stack([np.asarray(rows[m].attention_mask)[:length] for m in members]),
                               device=adapter.device, dtype=torch.long)
        position_ids = state.position_ids[..., start:length]
        kwargs: dict[str, Any] = {
            "inputs_embeds": embeds,
            "attention_mask": mask,
            "position_ids": position_ids.expand(*position_ids.shape[:-2], b, -1),
            "use_cache": start > 0,
        }
        kwargs.update({k: v[:, start:length].expand(b, -1) for k, v in state.derived.items()})
        if start > 0:
            kwargs[adapter._cache_kwarg] = _new_cache(state.kv, start, b)  # type: ignore[arg-type]
        if keep_last:
            kwargs["logits_to_keep"] = 1
        with torch.no_grad():
            logits = adapter.model(**kwargs).logits
        adapter._count(model_calls=1, sequences=b, tokens=b * (length - start), full_tokens=b * length)
        row_logits = logits[:, -1] if adapter.is_causal else logits[:, logits_row]
        batch_probs = torch.softmax(row_logits.float(), dim=-1).cpu()
        for r, m in enumerate(members):
            probs[m] = batch_probs[r]
    return torch.stack(probs) if probs else torch.zeros(0)  # type: ignore[arg-type]
