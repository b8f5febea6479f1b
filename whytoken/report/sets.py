"""Which sets an explanation found, in the words a reader may trust: explaining, verified, or only proposed.

An :class:`~whytoken.query.Explanation` lists sets in ``minimal_sets``; what
they may be *called* depends on what was checked. :func:`set_views` sorts them
into three groups that the report, the viewer and the CLI panel show in three
styles, and never mixes them:

``explaining``
    The answer: the best-ranked set, verified on the model.
``verified``
    Other sets whose removal also changed the target (checked on the model).
``candidates``
    Sets the graphs proposed that were not checked (``verify=False``): they
    are never called "minimal sets".

Each :class:`SetView` carries the measured effect and, where the query
records them, whether the set is *irreducible* (every subset one member
smaller was checked and none changes the target), *globally minimal* (every
smaller set in the pool was checked) and which proposal strategy found it.

Examples
--------
>>> from whytoken.query.explanation import ExplainingSet, Member
>>> s = ExplainingSet(members=(Member(3, "prompt_text", " France"),), verified=True)
>>> view = SetView.of(s, rank=1, role="explaining")
>>> view.labels, view.role, view.verified, view.claim
(('France',), 'explaining', True, 'verified')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from whytoken.report.labels import format_effect, member_log10_p, token_label

__all__ = ["SetView", "SetGroups", "set_views", "ROLES"]

#: The three ways a set is shown (see the module docstring).
ROLES = ("explaining", "verified", "candidate")


@dataclass(frozen=True)
class SetView:
    """One set as shown to a reader.

    Attributes
    ----------
    rank : int
        1-based rank within the explanation.
    role : str
        One of :data:`ROLES`.
    positions, labels, kinds : tuple
        Members' positions, display labels and token kinds.
    patches : tuple
        ``(row, col)`` of the members that are image patches.
    log10_p : tuple of float or None
        Per member: log10 of the CI test's p-value against the target.
    verified : bool or None
        As in :class:`~whytoken.query.explanation.ExplainingSet`.
    effect : float or None
        Relative drop of the target's probability when the set is removed.
    new_token, new_prob, target_prob_after : str or None, float or None, float or None
        What the model predicted instead, and the target's probability after the removal.
    irreducible, globally_minimal : bool or None
        Minimality claims the query checked (None: not recorded).
    source : str or None
        The proposal strategy that found the set.
    heads : tuple of int
        Heads whose graphs proposed it.
    """

    rank: int
    role: str
    positions: tuple[int, ...]
    labels: tuple[str, ...]
    kinds: tuple[str, ...]
    patches: tuple[tuple[int, int], ...]
    log10_p: tuple[float | None, ...]
    verified: bool | None
    effect: float | None
    new_token: str | None
    new_prob: float | None
    target_prob_after: float | None
    irreducible: bool | None
    globally_minimal: bool | None
    source: str | None
    heads: tuple[int, ...]

    @classmethod
    def of(cls, s: Any, rank: int, role: str) -> "SetView":
        """The view of an ``ExplainingSet`` (new fields read with ``getattr``, absent on older results)."""
        outcome = s.outcome
        effect = None if outcome is None else outcome.effect
        return cls(
            rank=rank,
            role=role,
            positions=tuple(m.position for m in s.members),
            labels=tuple(token_label(m.text, m.patch) for m in s.members),
            kinds=tuple(m.kind for m in s.members),
            patches=tuple(tuple(m.patch) for m in s.members if m.patch is not None),
            log10_p=tuple(member_log10_p(m) for m in s.members),
            verified=s.verified,
            effect=effect if effect is not None and math.isfinite(effect) else None,
            new_token=None if outcome is None else outcome.top_token_text,
            new_prob=None if outcome is None else outcome.top_prob,
            target_prob_after=None if outcome is None else outcome.target_prob_after,
            irreducible=getattr(s, "irreducible", None),
            globally_minimal=getattr(s, "globally_minimal", None),
            source=getattr(s, "source", None),
            heads=tuple(s.heads),
        )

    @property
    def size(self) -> int:
        return len(self.positions)

    @property
    def claim(self) -> str:
        """The strongest word the checks allow: ``globally minimal``, ``irreducible``, ``verified``, ``not verified``."""
        if not self.verified:
            return "not verified"
        if self.globally_minimal:
            return "globally minimal"
        if self.irreducible:
            return "irreducible"
        return "verified"

    def short_labels(self, max_items: int = 6) -> tuple[str, ...]:
        """The labels, the first ``max_items - 1`` and ``"+ N more"`` when the set is larger than ``max_items``.

        Examples
        --------
        >>> from whytoken.query.explanation import ExplainingSet, Member
        >>> s = ExplainingSet(tuple(Member(p, "image_patch", "<image>", (0, p)) for p in range(8)), verified=True)
        >>> SetView.of(s, 1, "explaining").short_labels(4)
        ('patch 0,0', 'patch 0,1', 'patch 0,2', '+ 5 more')
        """
        if len(self.labels) <= max_items:
            return self.labels
        return self.labels[: max_items - 1] + (f"+ {len(self.labels) - max_items + 1} more",)

    @property
    def effect_text(self) -> str:
        return format_effect(self.effect)

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "role": self.role, "positions": list(self.positions), "labels": list(self.labels),
                "kinds": list(self.kinds), "patches": [list(p) for p in self.patches],
                "log10_p": list(self.log10_p), "verified": self.verified, "effect": self.effect,
                "new_token": self.new_token, "new_prob": self.new_prob, "target_prob_after": self.target_prob_after,
                "irreducible": self.irreducible, "globally_minimal": self.globally_minimal, "source": self.source,
                "claim": self.claim, "heads": list(self.heads)}


@dataclass(frozen=True)
class SetGroups:
    """The sets of one explanation, by role (see :func:`set_views`)."""

    explaining: SetView | None
    verified: tuple[SetView, ...]
    candidates: tuple[SetView, ...]

    @property
    def all(self) -> tuple[SetView, ...]:
        head = () if self.explaining is None else (self.explaining,)
        return head + self.verified + self.candidates

    def positions(self, role: str) -> set[int]:
        """Every member position of the sets with ``role``."""
        return {p for v in self.all if v.role == role for p in v.positions}


def _listed_sets(explanation: Any) -> list[Any]:
    """``minimal_sets`` plus the larger verified sets the query found on the way (``other_sets``, where recorded)."""
    sets = list(explanation.minimal_sets)
    seen = {s.positions for s in sets}
    for s in getattr(explanation, "other_sets", None) or ():
        if s.positions not in seen:
            seen.add(s.positions)
            sets.append(s)
    return sets


def set_views(explanation: Any) -> SetGroups:
    """Group an explanation's sets into explaining / other verified / unverified candidates.

    Verified sets of one size are listed by effect, strongest first, after the
    explaining set (the query's own first choice stays first).
    """
    explaining = None
    verified: list[SetView] = []
    candidates: list[SetView] = []
    first = explanation.explaining_set
    rank = 1
    for s in _listed_sets(explanation):
        if s.verified:
            role = "explaining" if first is not None and s.positions == first.positions and explaining is None \
                else "verified"
        else:
            role = "candidate"
        view = SetView.of(s, rank, role)
        rank += 1
        if role == "explaining":
            explaining = view
        elif role == "verified":
            verified.append(view)
        else:
            candidates.append(view)
    verified.sort(key=lambda v: (v.size, -(v.effect if v.effect is not None else -math.inf), v.rank))
    return SetGroups(explaining, tuple(verified), tuple(candidates))
