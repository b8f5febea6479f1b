"""Re-running a traced generation with tokens removed: the prediction half of :class:`~whytoken.adapters.ModelAdapter`.

``predict``/``predict_batch`` re-run the model teacher-forced on the
positions before the target (encoders: on all positions) with the given
positions removed by an intervention (:mod:`whytoken.adapters.interventions`),
many removal sets per forward pass, on the key/value prefix cached once per
trace (:mod:`whytoken.adapters.verification_cache`). Before any re-run the
trace is checked against the model: the class, the depth and the weights
fingerprint must match (:mod:`whytoken.adapters.identity`), the token ids must
fit the vocabulary and the context window.

:class:`PredictingMixin` holds these methods; it relies on the adapter's model
plumbing (``_replay``, ``_forward``, ``spec``, ``model``), which lives in
:mod:`whytoken.adapters.base`.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from whytoken.adapters import verification_cache
from whytoken.adapters.identity import short, weights_fingerprint
from whytoken.adapters.interventions import RowEdit, get_intervention
from whytoken.adapters.limits import check_context_length, check_vocabulary, context_window
from whytoken.adapters.trace import GeneratedToken, Prediction, TokenKind, Trace
from whytoken.adapters.verification import ForwardCount, VerificationSettings
from whytoken.errors import InterventionError, InvalidParameterError, ModelMismatchError, TargetError

__all__ = ["PredictingMixin"]

logger = logging.getLogger(__name__)

#: Traces (by id) already warned about for lacking a weights fingerprint.
_UNFINGERPRINTED: set[int] = set()


class PredictingMixin:
    """``predict``, ``predict_batch`` and the checks and counters around them (see the module docstring)."""

    def _check_trace(self, trace: Trace) -> None:
        """Refuse a trace this model did not make or cannot replay (:mod:`whytoken.adapters.identity`)."""
        info = trace.model_info
        own = weights_fingerprint(self.model)
        made_by = (f"{info.get('name')!r} ({info.get('hf_class')}, {info.get('n_layers')} layers, weights "
                   f"{short(trace.fingerprint)})")
        this = f"{self.name!r} ({self.hf_class}, {self.n_layers} layers, weights {short(own)})"
        fix = (f"pass the model that made the trace ({info.get('source') or info.get('name')!r}), or trace again "
               "with this one")
        if info.get("hf_class") not in (None, self.hf_class) or info.get("n_layers") not in (None, self.n_layers):
            raise ModelMismatchError(f"the trace was made with {made_by} but this adapter wraps {this}; {fix} "
                                     "(re-run predict with the adapter that made the trace)")
        if trace.fingerprint is None:
            if id(trace) not in _UNFINGERPRINTED:
                _UNFINGERPRINTED.add(id(trace))
                logger.warning("the trace (model %r) records no weights fingerprint (it predates them): only the "
                               "model class and depth are checked, not that %s has the same weights; trace again "
                               "to get the check", info.get("name"), self.name)
        elif trace.fingerprint.split(":", 1)[0] == own.split(":", 1)[0] and trace.fingerprint != own:
            raise ModelMismatchError(f"the trace was made with {made_by} but this adapter wraps {this}: same "
                                     f"architecture, different weights; {fix}")
        embeddings = self.model.get_input_embeddings()
        check_vocabulary(self.name, trace.input_ids, getattr(embeddings, "num_embeddings", None))
        check_context_length(self.name, trace.n_positions, 0, context_window(self.text_config))

    def _check_target(self, trace: Trace, target: int | str | GeneratedToken) -> int:
        t = trace.target_index(target)
        if self.is_causal:
            if trace.positions[t].kind is not TokenKind.GENERATED:
                raise TargetError(
                    f"target position {t} ({trace.positions[t].text!r}, {trace.positions[t].kind.value}) is not a "
                    f"generated token; valid targets are the generated positions "
                    f"{[g.position for g in trace.generated]} (or -1 .. -{len(trace.generated)})"
                )
        elif not 1 <= t < trace.n_positions:
            raise TargetError(f"target {t} is out of range: valid targets are 1..{trace.n_positions - 1}")
        return t

    def _check_removed(self, trace: Trace, t: int, removed: Iterable[int]) -> tuple[int, ...]:
        if isinstance(removed, (int, np.integer)):
            removed = (int(removed),)
        out = []
        for p in removed:
            if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
                raise InterventionError(f"removal sets hold position indices (ints), got {p!r}")
            p = int(p)
            if not 0 <= p < trace.n_positions:
                raise TargetError(
                    f"removed position {p} is out of range: valid positions are 0..{trace.n_positions - 1}"
                )
            out.append(p)
        removed = tuple(sorted(set(out)))
        if t in removed:
            raise InterventionError(
                f"the removal set {list(removed)} contains the target position {t}; a target cannot explain "
                "itself: drop it from the set"
            )
        if self.is_causal:
            late = [p for p in removed if p > t]
            if late:
                raise InterventionError(
                    f"positions {late} come after the target {t} and cannot affect it in a causal model; "
                    f"remove only positions 0..{t - 1}"
                )
        return removed

    def predict(self, trace: Trace, target: int | str | GeneratedToken, removed: Iterable[int] = (),
                kind: str = "mask") -> Prediction:
        """Re-run the model with ``removed`` positions removed and read the target's distribution.

        Parameters
        ----------
        trace : Trace
            A trace of this model (in memory or loaded from disk).
        target : int, str or GeneratedToken
            The target position (see :meth:`Trace.target_index`); causal models:
            a generated position.
        removed : iterable of int
            Positions to remove (may be empty: the unablated re-run).
        kind : str
            Intervention kind, see :func:`~whytoken.adapters.list_interventions`.

        Returns
        -------
        Prediction
        """
        return self.predict_batch(trace, target, [removed], kind=kind, batch_size=1)[0]

    def predict_batch(self, trace: Trace, target: int | str | GeneratedToken,
                      removal_sets: Iterable[Iterable[int]], kind: str = "mask", batch_size: int | None = None
                      ) -> list[Prediction]:
        """:meth:`predict` for many removal sets, several per forward pass.

        The results equal one-at-a-time uncached :meth:`predict` calls (same top
        token; probabilities within ``rel=1e-4, abs=1e-6``, float round-off). Three
        savings make them cheap (:mod:`whytoken.adapters.verification`): causal
        decoders re-run each set only from its first removed position, on top of
        the unablated key/value prefix cached once per trace; every re-run starts
        from the language model's input embeddings captured once per trace, so
        the vision tower runs only for the images the ``pixel`` intervention
        edits; and sets are packed into passes by a per-device cost rule;
        measured in benchmarks/RESULTS.md, "Verification cost".
        ``adapter.verification = VerificationSettings(False, False)`` restores the
        uncached path; ``adapter.forward_count`` counts the passes.

        Parameters
        ----------
        trace, target, kind
            As in :meth:`predict`.
        removal_sets : iterable of iterables of int
            One removal set per prediction (an empty set is the unablated run).
        batch_size : int or None
            Removal sets per forward pass; None (default): packed by the device's
            pass-cost rule (:func:`~whytoken.adapters.verification.plan_batches`:
            sets removing late tokens share passes, long re-runs go alone).

        Returns
        -------
        list of Prediction
            In the order of ``removal_sets``.
        """
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise InvalidParameterError(f"batch_size must be a positive int or None, got {batch_size!r}")
        intervention = get_intervention(kind)
        self._check_trace(trace)
        t = self._check_target(trace, target)
        sets = [self._check_removed(trace, t, s) for s in removal_sets]
        for s in sets:
            intervention.check(trace, t, s)
        length = t if self.is_causal else trace.n_positions
        mean_groups = self._image_groups(trace, length)
        row_of_target = -1 if self.is_causal else t

        original = trace.generated_at(t)
        jobs: list[tuple[int, ...] | None] = list(sets)
        if original is None:
            jobs = [None] + jobs  # the unablated run gives the original token of a non-generated encoder target
        rows = []
        for removed in jobs:
            row = RowEdit(attention_mask=np.ones(length, dtype=np.int64))
            if removed:
                intervention.apply(row, trace, removed)
            rows.append(row)
        if not rows:
            probs = torch.zeros(0)
        elif self.verification.enabled:
            probs = verification_cache.run_rows(self, trace, rows, length, row_of_target, batch_size, mean_groups)
        else:
            probs = self._run_rows_uncached(trace, rows, length, row_of_target, batch_size or 8, mean_groups)
        if original is None:
            base, probs = probs[0], probs[1:]
            original_id = self._top_ids(base[None])[0]
            original_prob = float(base[original_id])
        else:
            original_id, original_prob = original.token_id, original.prob
        top_ids = self._top_ids(probs) if len(sets) else []
        texts = self._decode_each(top_ids) if top_ids else []
        return [
            Prediction(removed=s, kind=intervention.name, top_token_id=top, top_token_text=text,
                       top_prob=float(probs[i, top]), original_token_id=original_id, original_prob=original_prob,
                       target=t, original_token_prob_after=float(probs[i, original_id]))
            for i, (s, top, text) in enumerate(zip(sets, top_ids, texts))
        ]

    def _run_rows_uncached(self, trace: Trace, rows: Sequence[RowEdit], length: int, row_of_target: int,
                           batch_size: int, mean_groups: Mapping[int, list[int]]) -> torch.Tensor:
        """The reference path: every row re-runs all ``length`` positions and re-encodes its images."""
        replay = self._replay(trace.input_ids, trace.images, trace.prompt_length, length)
        keep = 1 if self.is_causal else None
        results: list[torch.Tensor] = []
        for start in range(0, len(rows), batch_size):
            logits, _ = self._forward(replay, rows[start:start + batch_size], logits_to_keep=keep,
                                      mean_groups=mean_groups)
            results.append(torch.softmax(logits[:, row_of_target].float(), dim=-1).cpu())
        return torch.cat(results, dim=0)

    # ------------------------------------------------------- forward counts
    #: How predict_batch re-runs removal sets (set an instance's own to change it).
    verification: VerificationSettings = VerificationSettings()

    @property
    def forward_count(self) -> ForwardCount:
        """Cumulative :class:`~whytoken.adapters.verification.ForwardCount` of this adapter's model calls.

        Counts predict/predict_batch (cache builds and image re-encodings included)
        and trace's teacher-forced pass, not generation. Subtract two snapshots for
        the cost of the work between them.
        """
        return self.__dict__.get("_forward_count", ForwardCount())

    def _count(self, **amounts: int) -> None:
        self.__dict__["_forward_count"] = self.forward_count + ForwardCount(**amounts)

    def clear_verification_cache(self) -> None:
        """Free the per-trace embeddings and key/value prefixes kept for :meth:`predict_batch`."""
        verification_cache.clear_states(self)

    @functools.cached_property
    def _cache_kwarg(self) -> str:
        """The model's name for the key/value cache argument (``cache`` since transformers 5.x)."""
        params = inspect.signature(self.model.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    def _top_ids(self, probs: torch.Tensor) -> list[int]:
        """Argmax per row, never the image placeholder (generation suppresses it too)."""
        if self.image_token_id is None or self.image_token_id >= probs.shape[-1]:
            return probs.argmax(dim=-1).tolist()
        masked = probs.clone()
        masked[:, self.image_token_id] = -1.0
        return masked.argmax(dim=-1).tolist()

    @staticmethod
    def _image_groups(trace: Trace, length: int) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for p in trace.positions[:length]:
            if p.kind is TokenKind.IMAGE_PATCH:
                groups.setdefault(p.image_index or 0, []).append(p.index)
        return {p: groups[trace.positions[p].image_index or 0] for grp in groups.values() for p in grp}
