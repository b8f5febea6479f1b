"""Gradients for attribution baselines: the target logit's gradient w.r.t. attention and input embeddings.

Two baselines of :mod:`whytoken.experiments.baselines` need the model's
gradients, taken in one forward and one backward pass over the sequence up
to the position that predicts the target:

* **Relevancy** (Chefer et al., 2021) needs every layer's attention
  probabilities ``A`` and ``dlogit/dA``. With eager attention the
  probabilities the model returns (``output_attentions=True``) are the very
  tensors multiplied with the values, so ``torch.autograd.grad`` reaches
  them; a model that returns detached or no attention (SDPA, flash) raises
  :class:`~whytoken.errors.AttentionCaptureError`.
* **Gradient x input** needs the input embeddings the decoder consumes. For
  a vision-language model these are the text embeddings with the projected
  image features merged in, i.e. the decoder's first hidden state
  (``hidden_states[0]``). A forward hook on the input-embedding module makes
  its output a leaf that requires grad, so gradients flow even when the
  model's parameters are frozen (``requires_grad=False``) or the caller runs
  under ``torch.no_grad``.

:func:`logit_gradients` works on any Hugging Face model and prepared inputs;
:func:`target_gradients` rebuilds the inputs of a :class:`Trace` through its
adapter.

Examples
--------
>>> import torch
>>> from transformers import LlamaConfig, LlamaForCausalLM
>>> _ = torch.manual_seed(0)
>>> config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
...                      num_attention_heads=2, num_key_value_heads=2, attn_implementation="eager")
>>> model = LlamaForCausalLM(config).eval()
>>> grads = logit_gradients(model, {"input_ids": torch.tensor([[1, 5, 7, 9]])}, row=3, token_id=4)
>>> len(grads.attentions), grads.attentions[0].shape, grads.embedding_grad_x_input.shape
(2, (2, 4, 4), (4,))
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from whytoken.errors import AdapterError, AttentionCaptureError, TargetError

__all__ = ["TargetGradients", "logit_gradients", "target_gradients", "input_embedding_module"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetGradients:
    """Gradients of one target logit, all on the sequence ``0..row``.

    Attributes
    ----------
    row : int
        The query position whose logits predict the target (``target - 1`` in a decoder).
    token_id : int
        The target token id whose logit was differentiated.
    logit : float
        Its logit.
    attentions : tuple of ndarray
        Per layer, float32 ``(heads, n, n)`` attention probabilities (``n = row + 1``);
        empty when attention gradients were not requested.
    attention_grads : tuple of ndarray
        Per layer, float32 ``(heads, n, n)``: ``dlogit / dA``.
    embedding_grad_x_input : ndarray
        float32 ``(n,)``: ``sum_d (dlogit/de * e)`` over the hidden dimension.
    embedding_grad_x_input_l2 : ndarray
        float32 ``(n,)``: ``|| dlogit/de * e ||_2``.
    """

    row: int
    token_id: int
    logit: float
    attentions: tuple[np.ndarray, ...]
    attention_grads: tuple[np.ndarray, ...]
    embedding_grad_x_input: np.ndarray
    embedding_grad_x_input_l2: np.ndarray


def input_embedding_module(model: Any) -> torch.nn.Module:
    """The module whose output is the token embeddings (``model.get_input_embeddings()``).

    Raises
    ------
    AdapterError
        If the model exposes none.
    """
    getter = getattr(model, "get_input_embeddings", None)
    module = getter() if callable(getter) else None
    if not isinstance(module, torch.nn.Module):
        raise AdapterError(f"{type(model).__name__} has no get_input_embeddings(); gradient x input needs the "
                           "token-embedding module")
    return module


@contextmanager
def _embeddings_require_grad(model: Any) -> Iterator[None]:
    """Forward hook: make the token embeddings a tensor that requires grad (parameters may be frozen)."""

    def hook(module: torch.nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        if not output.requires_grad:
            output = output.detach().requires_grad_(True)
        return output

    handle = input_embedding_module(model).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def logit_gradients(
    model: Any,
    inputs: Mapping[str, Any],
    row: int,
    token_id: int,
    *,
    attention: bool = True,
) -> TargetGradients:
    """Differentiate the logit of ``token_id`` at query position ``row`` in one forward+backward pass.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM or vision-language model with eager attention (batch size 1 inputs).
    inputs : mapping
        Keyword inputs of ``model(...)`` (``input_ids``, ``pixel_values``, ...),
        covering at least positions ``0..row``; later positions are cut off.
    row : int
        The position whose logits predict the target.
    token_id : int
        The target token.
    attention : bool
        Also return attention probabilities and their gradients (for relevancy).

    Raises
    ------
    AttentionCaptureError
        If the model returns no attention, or attention outside the autograd graph.
    TargetError
        If ``row`` or ``token_id`` is out of range.
    """
    ids = inputs.get("input_ids")
    n_inputs = int(ids.shape[-1]) if ids is not None else int(inputs["inputs_embeds"].shape[1])
    if not 0 <= row < n_inputs:
        raise TargetError(f"row {row} is outside the {n_inputs} input positions; pass the predicting position")
    inputs = dict(inputs)
    for key in ("input_ids", "attention_mask", "position_ids", "token_type_ids", "mm_token_type_ids"):
        if key in inputs and inputs[key] is not None and inputs[key].shape[-1] > row + 1:
            inputs[key] = inputs[key][..., : row + 1]
    model.eval()
    with torch.enable_grad(), _embeddings_require_grad(model):
        out = model(**inputs, output_attentions=attention, output_hidden_states=True, use_cache=False,
                    return_dict=True)
        logits = out.logits
        if not 0 <= token_id < logits.shape[-1]:
            raise TargetError(f"token id {token_id} is outside the vocabulary of {logits.shape[-1]} logits")
        logit = logits[0, row, token_id]
        hidden = out.hidden_states[0] if getattr(out, "hidden_states", None) else None
        if hidden is None or not hidden.requires_grad:
            raise AdapterError(f"{type(model).__name__} returned no differentiable input embeddings "
                               "(hidden_states[0]); gradient x input cannot be computed")
        tensors = [hidden]
        if attention:
            attns = [a for a in (getattr(out, "attentions", None) or ()) if a is not None]
            if not attns or any(not a.requires_grad for a in attns):
                raise AttentionCaptureError(
                    f"{type(model).__name__} returned {'no' if not attns else 'detached'} attention weights; "
                    "load the model with attn_implementation='eager' to compute relevancy"
                )
            tensors.extend(attns)
        grads = torch.autograd.grad(logit, tensors, allow_unused=True)
    g_embed = grads[0] if grads[0] is not None else torch.zeros_like(hidden)
    product = (g_embed * hidden).detach()[0, : row + 1].float()
    attentions: list[np.ndarray] = []
    attention_grads: list[np.ndarray] = []
    if attention:
        for a, g in zip(tensors[1:], grads[1:]):
            a = a.detach()[0, :, : row + 1, : row + 1].float()
            g = torch.zeros_like(a) if g is None else g.detach()[0, :, : row + 1, : row + 1].float()
            attentions.append(a.cpu().numpy())
            attention_grads.append(g.cpu().numpy())
    return TargetGradients(
        row=int(row),
        token_id=int(token_id),
        logit=float(logit.detach()),
        attentions=tuple(attentions),
        attention_grads=tuple(attention_grads),
        embedding_grad_x_input=product.sum(-1).cpu().numpy(),
        embedding_grad_x_input_l2=product.norm(dim=-1).cpu().numpy(),
    )


def target_gradients(adapter: Any, trace: Any, target: int | str, *, attention: bool = True) -> TargetGradients:
    """:func:`logit_gradients` for a generated token of a trace, with inputs rebuilt by its adapter.

    Parameters
    ----------
    adapter : ModelAdapter
        The adapter that made (or can replay) the trace.
    trace : Trace
    target : int or str
        A generated token (see :meth:`Trace.target_index`).
    attention : bool
        Also return attention probabilities and gradients.
    """
    t = trace.target_index(target)
    generated = trace.generated_at(t) if hasattr(trace, "generated_at") else None
    if generated is None:
        raise TargetError(f"position {t} is not a generated token of the trace; gradients need a generated target")
    if not trace.is_causal:
        raise AdapterError("gradient baselines are implemented for causal decoders only")
    inputs = _trace_inputs(adapter, trace, t)
    model = _hf_model(adapter)
    return logit_gradients(model, inputs, row=t - 1, token_id=generated.token_id, attention=attention)


def _hf_model(adapter: Any) -> Any:
    for name in ("model", "hf_model"):
        model = getattr(adapter, name, None)
        if isinstance(model, torch.nn.Module):
            return model
    raise AdapterError(f"{type(adapter).__name__} exposes no Hugging Face model (.model); cannot take gradients")


def _trace_inputs(adapter: Any, trace: Any, target: int) -> dict[str, Any]:
    """Model inputs for positions ``0..target-1`` of a trace, exactly as the adapter replays them.

    Uses the adapter's public ``model_inputs(trace, length)`` when it has one;
    otherwise the replay inputs of :class:`~whytoken.adapters.base.ModelAdapter`
    (ids, position ids, image inputs and derived per-token inputs), so that
    gradients are taken on the very inputs ``predict`` uses.
    """
    builder = getattr(adapter, "model_inputs", None)
    if callable(builder):
        return dict(builder(trace, target))
    replay_fn = getattr(adapter, "_replay", None)
    if not callable(replay_fn):
        raise AdapterError(f"{type(adapter).__name__} can rebuild no model inputs for a trace (it has neither "
                           "model_inputs(trace, length) nor ModelAdapter's replay); the gradient baselines need one")
    replay = replay_fn(trace.input_ids, trace.images, trace.prompt_length, target)
    inputs: dict[str, Any] = {
        "input_ids": replay.input_ids,
        "attention_mask": torch.ones_like(replay.input_ids),
        "position_ids": replay.position_ids,
    }
    inputs.update(replay.derived)
    inputs.update(replay.image_inputs)
    return inputs
