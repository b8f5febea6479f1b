"""The frozen records of tokens and explaining sets, each with a stable JSON form.

An :class:`~whytoken.query.explanation.Explanation` is assembled from these:
the tokens of the trace (:class:`TokenInfo`), the explained token
(:class:`TargetToken`) and the explaining sets (:class:`ExplainingSet`, made
of :class:`Member` tokens, with the model's :class:`InterventionOutcome`);
what the search did is in :mod:`whytoken.query.summaries`.

Claims carried by a set are only made when checked: ``irreducible`` means
every subset with one member fewer was removed on the model and none changed
the target; ``globally_minimal`` means every smaller subset of the candidate
pool was checked (trivially true for a verified single token). ``None`` means
"not checked".

Probabilities that underflow (strong dependence gives p-values far below
1e-300) are kept in log space: :attr:`Member.log10_p_value`.

Examples
--------
>>> member = Member(position=3, kind="prompt_text", text=" France", log10_p_value=-412.5)
>>> s = ExplainingSet(members=(member,), verified=True, irreducible=True, globally_minimal=True)
>>> s.positions, s.size, s.modality(), s.claim()
((3,), 1, {'prompt_text': 1}, 'minimal')
>>> ExplainingSet.from_json(s.to_json()) == s
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping


__all__ = [
    "KIND_NAMES",
    "TokenInfo",
    "TargetToken",
    "Member",
    "InterventionOutcome",
    "ExplainingSet",
    "float_to_json",
    "float_from_json",
]

#: Token kinds as they appear in results (lower-case names of ``whytoken.adapters.trace.TokenKind``).
KIND_NAMES = ("image_patch", "prompt_text", "special", "generated")


def float_to_json(value: float | None) -> Any:
    """JSON has no NaN/inf: store them as strings so a round trip keeps them.

    Examples
    --------
    >>> float_to_json(float("nan")), float_to_json(float("-inf")), float_to_json(0.5)
    ('nan', '-inf', 0.5)
    """
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def float_from_json(value: Any) -> float | None:
    """The inverse of :func:`float_to_json`."""
    if value is None:
        return None
    return float(value)


def _pair(value: Any) -> tuple | None:
    return None if value is None else tuple(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class TokenInfo:
    """One position of the traced sequence, as shown in reports and JSON.

    Attributes
    ----------
    position : int
        Index in the sequence (the node id in the graphs).
    kind : str
        One of :data:`KIND_NAMES`.
    text : str
        Decoded token text.
    token_id : int or None
        Vocabulary id.
    patch : (row, col) or None
        Grid cell of an image patch.
    box : (x0, y0, x1, y1) or None
        Pixel box of an image patch in the input image.
    image_index : int or None
        Which input image an image patch belongs to.
    """

    position: int
    kind: str
    text: str
    token_id: int | None = None
    patch: tuple[int, int] | None = None
    box: tuple[float, float, float, float] | None = None
    image_index: int | None = None

    @property
    def label(self) -> str:
        """``"patch r,c"`` for image patches, else the text."""
        return f"patch {self.patch[0]},{self.patch[1]}" if self.patch is not None else self.text

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "kind": self.kind, "text": self.text, "token_id": self.token_id,
                "patch": None if self.patch is None else list(self.patch),
                "box": None if self.box is None else list(self.box), "image_index": self.image_index}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TokenInfo":
        return cls(position=int(data["position"]), kind=str(data["kind"]), text=str(data["text"]),
                   token_id=_optional_int(data.get("token_id")), patch=_pair(data.get("patch")),
                   box=_pair(data.get("box")), image_index=_optional_int(data.get("image_index")))


@dataclass(frozen=True)
class TargetToken:
    """The generated token being explained.

    Attributes
    ----------
    position : int
        Its position in the traced sequence.
    generated_index : int
        Its index among the generated tokens (0 = first generated).
    token_id : int
    text : str
    prob : float
        Its probability when it was generated.
    """

    position: int
    generated_index: int
    token_id: int
    text: str
    prob: float

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "generated_index": self.generated_index, "token_id": self.token_id,
                "text": self.text, "prob": float_to_json(self.prob)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TargetToken":
        return cls(int(data["position"]), int(data["generated_index"]), int(data["token_id"]),
                   str(data["text"]), float(float_from_json(data["prob"])))


@dataclass(frozen=True)
class Member:
    """One token of an explaining set.

    Attributes
    ----------
    position, kind, text : int, str, str
        As in :class:`TokenInfo`.
    patch : (row, col) or None
    pds_distance : int or None
        Distance from the target in the PDS-tree of :attr:`ExplainingSet.best_head`
        (None: outside that head's tree within ``max_range``).
    log10_p_value : float or None
        log10 of the p-value of "member independent of the target" (the marginal
        Fisher-z partial-correlation test in that head); very negative means strong
        dependence. Kept in log space so it never underflows to 0.
    log10_p_value_given_rest : float or None
        The same test given the set's other members (None for single tokens).
    """

    position: int
    kind: str
    text: str
    patch: tuple[int, int] | None = None
    pds_distance: int | None = None
    log10_p_value: float | None = None
    log10_p_value_given_rest: float | None = None

    @property
    def p_value(self) -> float | None:
        """The p-value itself (underflows to 0.0 below 1e-308; prefer :attr:`log10_p_value`)."""
        return None if self.log10_p_value is None else 10.0 ** self.log10_p_value

    @property
    def p_value_given_rest(self) -> float | None:
        """The conditional p-value itself (see :attr:`log10_p_value_given_rest`)."""
        v = self.log10_p_value_given_rest
        return None if v is None else 10.0 ** v

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "kind": self.kind, "text": self.text,
                "patch": None if self.patch is None else list(self.patch), "pds_distance": self.pds_distance,
                "log10_p_value": float_to_json(self.log10_p_value),
                "log10_p_value_given_rest": float_to_json(self.log10_p_value_given_rest)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Member":
        log_p, log_rest = data.get("log10_p_value"), data.get("log10_p_value_given_rest")
        if log_p is None and data.get("p_value") is not None:  # schema /1 stored the p-value itself
            log_p = _log10(float_from_json(data["p_value"]))
        if log_rest is None and data.get("p_value_given_rest") is not None:
            log_rest = _log10(float_from_json(data["p_value_given_rest"]))
        return cls(position=int(data["position"]), kind=str(data["kind"]), text=str(data["text"]),
                   patch=_pair(data.get("patch")), pds_distance=_optional_int(data.get("pds_distance")),
                   log10_p_value=float_from_json(log_p), log10_p_value_given_rest=float_from_json(log_rest))


def _log10(p: float | None) -> float | None:
    if p is None or math.isnan(p):
        return None
    return math.log10(p) if p > 0 else float("-inf")


@dataclass(frozen=True)
class InterventionOutcome:
    """What the model predicted at the target position with a set removed.

    Attributes
    ----------
    changed : bool
        The criterion's verdict.
    top_token_id, top_token_text, top_prob
        The new most likely token and its probability.
    target_prob_after : float
        The original target token's probability after the removal (NaN when unreported).
    effect : float
        Relative drop of the original token's probability, ``1 - after / before``
        (1: gone; 0: unchanged; negative: it became more likely).
    """

    changed: bool
    top_token_id: int
    top_token_text: str
    top_prob: float
    target_prob_after: float
    effect: float

    def to_json(self) -> dict[str, Any]:
        return {"changed": self.changed, "top_token_id": self.top_token_id, "top_token_text": self.top_token_text,
                "top_prob": float_to_json(self.top_prob), "target_prob_after": float_to_json(self.target_prob_after),
                "effect": float_to_json(self.effect)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "InterventionOutcome":
        return cls(bool(data["changed"]), int(data["top_token_id"]), str(data["top_token_text"]),
                   float(float_from_json(data["top_prob"])), float(float_from_json(data["target_prob_after"])),
                   float(float_from_json(data["effect"])))


@dataclass(frozen=True)
class ExplainingSet:
    """A set of input tokens proposed (and possibly verified) as an explanation.

    Attributes
    ----------
    members : tuple of Member
        Sorted by position.
    verified : bool or None
        True: removing the set changed the target; False: it did not; None: not checked.
    heads : tuple of int
        The heads whose graphs hold a member within ``max_range`` of the target.
    best_head : int or None
        The head with the strongest graph evidence for the set (its distances and p-values are
        reported); None when no head's PDS-tree holds a member (the p-values then come from the
        head where the members depend most on the target).
    pds_distance : int or None
        Largest member distance from the target in ``best_head``'s PDS-tree (None: a member is outside it).
    depth_sum : int or None
        Sum of member distances in that tree.
    outcome : InterventionOutcome or None
        The model's prediction with the set removed.
    irreducible : bool or None
        Every subset with one member fewer was checked and none changed the target (None: not checked).
    globally_minimal : bool or None
        Every smaller subset of the candidate pool was checked and none changed the target.
    source : str
        The search stage or proposal strategy that found the set (e.g. ``"singles"``, ``"regions"``).
    """

    members: tuple[Member, ...]
    verified: bool | None = None
    heads: tuple[int, ...] = ()
    best_head: int | None = None
    pds_distance: int | None = None
    depth_sum: int | None = None
    outcome: InterventionOutcome | None = None
    irreducible: bool | None = None
    globally_minimal: bool | None = None
    source: str = ""

    @property
    def positions(self) -> tuple[int, ...]:
        """Member positions, sorted."""
        return tuple(m.position for m in self.members)

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def effect(self) -> float | None:
        """The measured effect of removing the set (see :class:`InterventionOutcome`), None when unchecked."""
        return None if self.outcome is None else self.outcome.effect

    @property
    def log10_max_p_value(self) -> float | None:
        """The weakest member dependence (largest log10 p-value) in ``best_head``."""
        values = [m.log10_p_value for m in self.members if m.log10_p_value is not None]
        return max(values) if values else None

    def claim(self) -> str:
        """The strongest checked claim: ``"minimal"``, ``"irreducible"``, ``"verified"`` or ``"unverified"``."""
        if not self.verified:
            return "unverified"
        if self.globally_minimal:
            return "minimal"
        return "irreducible" if self.irreducible else "verified"

    def modality(self) -> dict[str, int]:
        """How many members are image patches, prompt words, generated or special tokens."""
        counts: dict[str, int] = {}
        for m in self.members:
            counts[m.kind] = counts.get(m.kind, 0) + 1
        return counts

    def describe(self, limit: int = 12) -> str:
        """Members joined, e.g. ``"{' France' @3, patch (2, 1) @17}"`` (at most ``limit`` shown)."""
        parts = [f"{'patch ' + str(m.patch) if m.patch is not None else repr(m.text)} @{m.position}"
                 for m in self.members[:limit]]
        more = f", ... {self.size - limit} more" if self.size > limit else ""
        return "{" + ", ".join(parts) + more + "}"

    def to_json(self) -> dict[str, Any]:
        return {"members": [m.to_json() for m in self.members], "size": self.size, "verified": self.verified,
                "heads": list(self.heads), "best_head": self.best_head, "pds_distance": self.pds_distance,
                "depth_sum": self.depth_sum, "outcome": None if self.outcome is None else self.outcome.to_json(),
                "irreducible": self.irreducible, "globally_minimal": self.globally_minimal, "source": self.source,
                "claim": self.claim()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ExplainingSet":
        outcome = data.get("outcome")
        return cls(members=tuple(Member.from_json(m) for m in data["members"]), verified=data.get("verified"),
                   heads=tuple(int(h) for h in data.get("heads", ())), best_head=_optional_int(data.get("best_head")),
                   pds_distance=_optional_int(data.get("pds_distance")),
                   depth_sum=_optional_int(data.get("depth_sum")),
                   outcome=None if outcome is None else InterventionOutcome.from_json(outcome),
                   irreducible=data.get("irreducible"), globally_minimal=data.get("globally_minimal"),
                   source=str(data.get("source", "")))
