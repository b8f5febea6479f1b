"""The result of an explanation query and its JSON form (``whytoken.explanation/1``).

:func:`whytoken.query.explain` returns an :class:`Explanation`: a frozen
record of the target token, the smallest verified explaining set (and every
other verified set of that size, ranked), what each attention head
contributed (its PAG, the candidate sets it proposed, CI-test counts and
timings), the search budget that was spent, and the provenance needed to
reproduce it. ``save``/``load`` write and read a stable JSON document whose
``schema`` field is ``whytoken.explanation/1``; the per-head graphs are
embedded in the ``whytoken.pag/1`` form of :mod:`whytoken.graphs.io`.

Status values
-------------
``explained``
    At least one candidate set changed the target under the criterion.
``not-explained``
    No candidate set within the limits changed the target; ``message`` says
    what was tried. This is a result, not an error.
``unverified``
    ``verify=False`` was requested: the sets are the graph's best-ranked
    candidates and have not been checked on the model.

Examples
--------
>>> member = Member(position=3, kind="prompt_text", text=" France")
>>> s = ExplainingSet(members=(member,), verified=True)
>>> s.positions, s.size, s.modality()
((3,), 1, {'prompt_text': 1})
>>> ExplainingSet.from_json(s.to_json()) == s
True
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from whytoken.errors import CheckpointError, SchemaError
from whytoken.graphs import PAG

__all__ = [
    "SCHEMA",
    "STATUSES",
    "KIND_NAMES",
    "TokenInfo",
    "TargetToken",
    "Member",
    "InterventionOutcome",
    "ExplainingSet",
    "CandidateRecord",
    "HeadResult",
    "SearchSummary",
    "Explanation",
]

logger = logging.getLogger(__name__)

#: Schema identifier written into every saved explanation.
SCHEMA = "whytoken.explanation/1"
#: The values :attr:`Explanation.status` takes.
STATUSES = ("explained", "not-explained", "unverified")
#: Token kinds as they appear in results (lower-case names of ``whytoken.adapters.trace.TokenKind``).
KIND_NAMES = ("image_patch", "prompt_text", "special", "generated")


def _float_to_json(value: float | None) -> Any:
    """JSON has no NaN/inf: store them as strings so a round trip keeps them."""
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _float_from_json(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)


def _pair(value: Any) -> tuple | None:
    return None if value is None else tuple(value)


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
        Decoded token text (``"<patch r,c>"``-style for image patches when the adapter has no text).
    token_id : int or None
        Vocabulary id (None for image patches without one).
    patch : (row, col) or None
        Grid cell of an image patch.
    box : (x0, y0, x1, y1) or None
        Pixel box of an image patch in the input image.
    """

    position: int
    kind: str
    text: str
    token_id: int | None = None
    patch: tuple[int, int] | None = None
    box: tuple[float, float, float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "kind": self.kind,
            "text": self.text,
            "token_id": self.token_id,
            "patch": None if self.patch is None else list(self.patch),
            "box": None if self.box is None else list(self.box),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TokenInfo":
        return cls(
            position=int(data["position"]),
            kind=str(data["kind"]),
            text=str(data["text"]),
            token_id=None if data.get("token_id") is None else int(data["token_id"]),
            patch=_pair(data.get("patch")),
            box=_pair(data.get("box")),
        )


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
        Vocabulary id.
    text : str
        Decoded text, e.g. ``" Paris"``.
    prob : float
        Its probability when it was generated.
    """

    position: int
    generated_index: int
    token_id: int
    text: str
    prob: float

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "generated_index": self.generated_index,
            "token_id": self.token_id,
            "text": self.text,
            "prob": _float_to_json(self.prob),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TargetToken":
        return cls(int(data["position"]), int(data["generated_index"]), int(data["token_id"]),
                   str(data["text"]), float(_float_from_json(data["prob"])))


@dataclass(frozen=True)
class Member:
    """One token of an explaining set.

    Attributes
    ----------
    position, kind, text : int, str, str
        As in :class:`TokenInfo`.
    patch : (row, col) or None
        Grid cell for image patches.
    pds_distance : int or None
        Distance from the target in the PDS-tree of the head that ranked the set best.
    p_value : float or None
        p-value of "member independent of the target" (unconditional partial-correlation
        test in that head); small means strongly dependent.
    p_value_given_rest : float or None
        The same test given the set's other members (None for single-token sets).
    """

    position: int
    kind: str
    text: str
    patch: tuple[int, int] | None = None
    pds_distance: int | None = None
    p_value: float | None = None
    p_value_given_rest: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "kind": self.kind,
            "text": self.text,
            "patch": None if self.patch is None else list(self.patch),
            "pds_distance": self.pds_distance,
            "p_value": _float_to_json(self.p_value),
            "p_value_given_rest": _float_to_json(self.p_value_given_rest),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Member":
        return cls(
            position=int(data["position"]),
            kind=str(data["kind"]),
            text=str(data["text"]),
            patch=_pair(data.get("patch")),
            pds_distance=None if data.get("pds_distance") is None else int(data["pds_distance"]),
            p_value=_float_from_json(data.get("p_value")),
            p_value_given_rest=_float_from_json(data.get("p_value_given_rest")),
        )


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
        The original target token's probability after the removal (NaN when the
        model did not report it).
    effect : float
        Relative drop of the original token's probability (1 - after / before).
    """

    changed: bool
    top_token_id: int
    top_token_text: str
    top_prob: float
    target_prob_after: float
    effect: float

    def to_json(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "top_token_id": self.top_token_id,
            "top_token_text": self.top_token_text,
            "top_prob": _float_to_json(self.top_prob),
            "target_prob_after": _float_to_json(self.target_prob_after),
            "effect": _float_to_json(self.effect),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "InterventionOutcome":
        return cls(bool(data["changed"]), int(data["top_token_id"]), str(data["top_token_text"]),
                   float(_float_from_json(data["top_prob"])), float(_float_from_json(data["target_prob_after"])),
                   float(_float_from_json(data["effect"])))


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
        The heads whose PDS-tree proposed this set.
    best_head : int or None
        The head that ranked it best (its distances and p-values are the ones reported).
    pds_distance : int or None
        Largest member distance from the target in ``best_head``'s PDS-tree.
    depth_sum : int or None
        Sum of member distances in that tree.
    outcome : InterventionOutcome or None
        The model's prediction with the set removed (None when not verified).
    """

    members: tuple[Member, ...]
    verified: bool | None = None
    heads: tuple[int, ...] = ()
    best_head: int | None = None
    pds_distance: int | None = None
    depth_sum: int | None = None
    outcome: InterventionOutcome | None = None

    @property
    def positions(self) -> tuple[int, ...]:
        """Member positions, sorted."""
        return tuple(m.position for m in self.members)

    @property
    def size(self) -> int:
        """Number of members."""
        return len(self.members)

    @property
    def max_p_value(self) -> float | None:
        """The weakest member dependence (largest p-value) in ``best_head``."""
        values = [m.p_value for m in self.members if m.p_value is not None]
        return max(values) if values else None

    def modality(self) -> dict[str, int]:
        """How many members are image patches, prompt words, generated tokens or special tokens."""
        counts: dict[str, int] = {}
        for m in self.members:
            counts[m.kind] = counts.get(m.kind, 0) + 1
        return counts

    def describe(self) -> str:
        """Member texts joined, e.g. ``"' France' (3), patch (2, 1) (17)"``."""
        parts = []
        for m in self.members:
            label = f"patch {m.patch}" if m.patch is not None else repr(m.text)
            parts.append(f"{label} @{m.position}")
        return "{" + ", ".join(parts) + "}"

    def to_json(self) -> dict[str, Any]:
        return {
            "members": [m.to_json() for m in self.members],
            "size": self.size,
            "verified": self.verified,
            "heads": list(self.heads),
            "best_head": self.best_head,
            "pds_distance": self.pds_distance,
            "depth_sum": self.depth_sum,
            "outcome": None if self.outcome is None else self.outcome.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ExplainingSet":
        return cls(
            members=tuple(Member.from_json(m) for m in data["members"]),
            verified=data.get("verified"),
            heads=tuple(int(h) for h in data.get("heads", ())),
            best_head=data.get("best_head"),
            pds_distance=data.get("pds_distance"),
            depth_sum=data.get("depth_sum"),
            outcome=None if data.get("outcome") is None else InterventionOutcome.from_json(data["outcome"]),
        )


@dataclass(frozen=True)
class CandidateRecord:
    """One candidate set a head proposed, and the verdict on it.

    ``verified`` is None when the set was not checked (``verify=False``, or it
    fell outside the candidate budget). ``effect`` is the criterion's measured
    effect of removing the set (for ``top-token`` and ``prob-drop``: the
    relative drop of the target token's probability), None when unchecked or
    when the model did not report the probability.
    """

    positions: tuple[int, ...]
    pds_distance: int
    verified: bool | None
    effect: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"positions": list(self.positions), "pds_distance": self.pds_distance, "verified": self.verified,
                "effect": self.effect}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CandidateRecord":
        effect = data.get("effect")
        return cls(tuple(int(p) for p in data["positions"]), int(data["pds_distance"]), data.get("verified"),
                   None if effect is None else float(effect))


@dataclass(frozen=True)
class HeadResult:
    """What one attention head contributed to the query.

    Attributes
    ----------
    head : int
        Head index within the layer.
    pag : PAG
        The learned graph; node ids are sequence positions, node attributes ``kind`` and ``text``.
    n_ci_tests : int
        CI tests the learner ran.
    learn_seconds : float
        Wall time of structure learning.
    pds_depth : mapping of int -> int
        Position -> distance from the target in the PDS-tree, within ``max_range``.
    candidates : tuple of CandidateRecord
        The sets this head proposed, in its rank order, with verdicts.
    minimal_size : int or None
        Size of the smallest verified set this head proposed.
    method : str
        The learner.
    """

    head: int
    pag: PAG
    n_ci_tests: int
    learn_seconds: float
    pds_depth: Mapping[int, int]
    candidates: tuple[CandidateRecord, ...]
    minimal_size: int | None
    method: str

    @property
    def n_nodes(self) -> int:
        return len(self.pag)

    @property
    def n_edges(self) -> int:
        return self.pag.number_of_edges()

    @property
    def n_verified(self) -> int:
        """Candidate sets of this head that changed the target."""
        return sum(1 for c in self.candidates if c.verified)

    def to_json(self, include_pag: bool = True) -> dict[str, Any]:
        data = {
            "head": self.head,
            "method": self.method,
            "n_nodes": self.n_nodes,
            "n_edges": self.n_edges,
            "n_ci_tests": self.n_ci_tests,
            "learn_seconds": self.learn_seconds,
            "pds_depth": {str(k): v for k, v in sorted(self.pds_depth.items())},
            "candidates": [c.to_json() for c in self.candidates],
            "minimal_size": self.minimal_size,
        }
        if include_pag:
            data["pag"] = self.pag.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "HeadResult":
        return cls(
            head=int(data["head"]),
            pag=PAG.from_json(data["pag"]),
            n_ci_tests=int(data["n_ci_tests"]),
            learn_seconds=float(data["learn_seconds"]),
            pds_depth={int(k): int(v) for k, v in data["pds_depth"].items()},
            candidates=tuple(CandidateRecord.from_json(c) for c in data["candidates"]),
            minimal_size=data.get("minimal_size"),
            method=str(data["method"]),
        )


@dataclass(frozen=True)
class SearchSummary:
    """The budget the search spent and the limits it ran under.

    Attributes
    ----------
    sizes_tried : tuple of int
        Set sizes whose candidates were verified (or ranked, when unverified).
    n_candidate_nodes : int
        Removable nodes (the pool an exhaustive search would draw from).
    n_proposed : int
        Candidate sets proposed over all heads, before de-duplication.
    n_unique : int
        Distinct candidate sets after de-duplication across heads.
    n_interventions : int
        Removal sets sent to the model (one forward sequence each).
    n_model_calls : int
        Batched calls to the model (``predict_batch``).
    exhaustive_interventions : int
        Interventions an exhaustive search over the same candidate nodes would
        need to find every minimal set (all subsets up to the minimal size found,
        or up to ``max_set_size`` when none was found).
    first_verified_at : int or None
        How many interventions, in rank order, up to and including the first
        verified set: what a search that stops at its first explanation would
        spend (None when nothing verified).
    truncated : bool
        Whether any size had more ranked candidates than ``max_candidates``.
    max_set_size, max_range, max_candidates : int, int or None, int
        The limits.
    """

    sizes_tried: tuple[int, ...]
    n_candidate_nodes: int
    n_proposed: int
    n_unique: int
    n_interventions: int
    n_model_calls: int
    exhaustive_interventions: int
    first_verified_at: int | None
    truncated: bool
    max_set_size: int
    max_range: int | None
    max_candidates: int

    def to_json(self) -> dict[str, Any]:
        return {f.name: (list(getattr(self, f.name)) if f.name == "sizes_tried" else getattr(self, f.name))
                for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SearchSummary":
        kwargs = {f.name: data[f.name] for f in fields(cls)}
        kwargs["sizes_tried"] = tuple(int(s) for s in kwargs["sizes_tried"])
        return cls(**kwargs)


@dataclass(frozen=True)
class Explanation:
    """Why the target token was generated: the verified minimal explaining set and its evidence.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`.
    message : str
        One plain sentence saying what was found (or not, and what was tried).
    target : TargetToken
        The explained token.
    explaining_set : ExplainingSet or None
        The answer: the first of ``minimal_sets`` (None when nothing was found).
    minimal_sets : tuple of ExplainingSet
        Every verified set of the minimal size, ranked (see :func:`whytoken.query.explain`
        for the rule); unverified best candidates when ``status == "unverified"``.
    heads : tuple of HeadResult
        Per-head graphs, candidates and counts.
    search : SearchSummary
        Budget spent and limits.
    tokens : tuple of TokenInfo
        Every position up to and including the target.
    attention : mapping of int -> tuple of float
        Per head: the raw attention row of the position that predicted the target
        (over ``tokens``), for comparison with the causal answer.
    attention_row : int
        The query position of that row.
    target_node : int or None
        The graph node standing for the target (the root of the PDS-trees): the target's
        position, or the predicting position with ``target_row="predicting"``.
    prompt : str
        The prompt text.
    generated_text : str
        All generated text, for display.
    image_size : (width, height) or None
    patch_grid : (rows, cols) or None
    timings : mapping of str -> float
        Seconds per step (``learn``, ``pds``, ``verify``, ``total``).
    provenance : mapping
        Model, revision, layer, heads, alpha, N, learner, criterion, intervention kind,
        seed and package versions.
    """

    status: str
    message: str
    target: TargetToken
    explaining_set: ExplainingSet | None
    minimal_sets: tuple[ExplainingSet, ...]
    heads: tuple[HeadResult, ...]
    search: SearchSummary
    tokens: tuple[TokenInfo, ...]
    attention: Mapping[int, tuple[float, ...]] = field(default_factory=dict)
    attention_row: int | None = None
    target_node: int | None = None
    prompt: str = ""
    generated_text: str = ""
    image_size: tuple[int, int] | None = None
    patch_grid: tuple[int, int] | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    schema = SCHEMA

    # ------------------------------------------------------------------ conveniences
    @property
    def verified(self) -> bool | None:
        """Whether the answer was confirmed on the model (None when verification was off)."""
        if self.status == "unverified":
            return None
        return self.explaining_set is not None and bool(self.explaining_set.verified)

    @property
    def found(self) -> bool:
        """Whether a (verified, or unverified-by-request) explaining set exists."""
        return self.explaining_set is not None

    @property
    def modality(self) -> dict[str, int]:
        """Counts of the answer's members per token kind (all kinds listed, zeros included)."""
        counts = {kind: 0 for kind in ("image_patch", "prompt_text", "generated")}
        if self.explaining_set is not None:
            for kind, n in self.explaining_set.modality().items():
                counts[kind] = counts.get(kind, 0) + n
        return counts

    @property
    def p_values(self) -> dict[int, float | None]:
        """Member position -> p-value against the target (in the best head)."""
        if self.explaining_set is None:
            return {}
        return {m.position: m.p_value for m in self.explaining_set.members}

    @property
    def single_token_effects(self) -> dict[int, float]:
        """Position -> measured effect of removing that token alone, for every token the search checked alone.

        These are interventions on the model, not graph evidence: the search
        checks every single-token candidate in the heads' PDS-trees before it
        tries larger sets. Sorted by effect, strongest first; tokens never
        checked alone (outside the trees' range, or ``verify=False``) are absent.

        Examples
        --------
        >>> from whytoken.query import explain
        >>> from whytoken.experiments.harness import ToyModel
        >>> model = ToyModel()
        >>> e = explain(model.trace(prompt="a b c", max_new_tokens=1), -1, model=model)
        >>> all(isinstance(v, float) for v in e.single_token_effects.values())
        True
        """
        effects: dict[int, float] = {}
        for head in self.heads:
            for record in head.candidates:
                if len(record.positions) == 1 and record.effect is not None and math.isfinite(record.effect):
                    effects[record.positions[0]] = record.effect
        return dict(sorted(effects.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def best_head(self) -> HeadResult | None:
        """The head whose graph ranked the answer best; without an answer, the head whose
        PDS-tree holds the most tokens within range (the first such head on ties)."""
        if not self.heads:
            return None
        wanted = self.explaining_set.best_head if self.explaining_set is not None else None
        for h in self.heads:
            if h.head == wanted:
                return h
        return max(self.heads, key=lambda h: (len(h.pds_depth), -self.heads.index(h)))

    @property
    def pag(self) -> PAG | None:
        """The graph of :attr:`best_head`."""
        head = self.best_head
        return None if head is None else head.pag

    def token(self, position: int) -> TokenInfo:
        """The :class:`TokenInfo` at ``position``."""
        for t in self.tokens:
            if t.position == position:
                return t
        raise KeyError(position)

    def summary(self) -> str:
        """A few human-readable lines: target, answer, alternatives, budget."""
        lines = [f"target: {self.target.text!r} (position {self.target.position}, p={self.target.prob:.3f})"]
        lines.append(self.message)
        if self.explaining_set is not None and len(self.minimal_sets) > 1:
            lines.append(f"{len(self.minimal_sets)} sets of size {self.explaining_set.size}: "
                         + "; ".join(s.describe() for s in self.minimal_sets[:8])
                         + (" ..." if len(self.minimal_sets) > 8 else ""))
        s = self.search
        lines.append(f"{s.n_interventions} interventions in {s.n_model_calls} model calls "
                     f"(exhaustive search: {s.exhaustive_interventions})")
        return "\n".join(lines)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """The ``whytoken.explanation/1`` document as a dict (JSON-serializable)."""
        best = self.best_head
        return {
            "schema": SCHEMA,
            "status": self.status,
            "message": self.message,
            "target": self.target.to_json(),
            "explaining_set": None if self.explaining_set is None else self.explaining_set.to_json(),
            "minimal_sets": [s.to_json() for s in self.minimal_sets],
            "modality": self.modality,
            "p_values": {str(k): _float_to_json(v) for k, v in self.p_values.items()},
            "pag": None if best is None else best.pag.to_json(),
            "pag_head": None if best is None else best.head,
            "heads": [h.to_json() for h in self.heads],
            "search": self.search.to_json(),
            "tokens": [t.to_json() for t in self.tokens],
            "target_node": self.target_node,
            "attention": {"row": self.attention_row,
                          "per_head": {str(h): [float(x) for x in row] for h, row in self.attention.items()}},
            "prompt": self.prompt,
            "generated_text": self.generated_text,
            "image_size": None if self.image_size is None else list(self.image_size),
            "patch_grid": None if self.patch_grid is None else list(self.patch_grid),
            "timings": dict(self.timings),
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> "Explanation":
        """Read the ``whytoken.explanation/1`` form (a dict or a JSON string).

        Raises
        ------
        SchemaError
            If the schema field is missing or different, or a required field is absent.
        """
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as err:
                raise SchemaError(f"explanation is not valid JSON ({err}); expected a {SCHEMA} document") from err
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, Mapping) else type(data).__name__
            raise SchemaError(f"expected schema {SCHEMA!r}, found {found!r}; "
                              "this file was not written by Explanation.save (or by a newer whytoken)")
        try:
            attention = data.get("attention") or {}
            return cls(
                status=str(data["status"]),
                message=str(data["message"]),
                target=TargetToken.from_json(data["target"]),
                explaining_set=None if data["explaining_set"] is None else ExplainingSet.from_json(data["explaining_set"]),
                minimal_sets=tuple(ExplainingSet.from_json(s) for s in data["minimal_sets"]),
                heads=tuple(HeadResult.from_json(h) for h in data["heads"]),
                search=SearchSummary.from_json(data["search"]),
                tokens=tuple(TokenInfo.from_json(t) for t in data["tokens"]),
                attention={int(h): tuple(float(x) for x in row) for h, row in attention.get("per_head", {}).items()},
                attention_row=attention.get("row"),
                target_node=data.get("target_node"),
                prompt=str(data.get("prompt", "")),
                generated_text=str(data.get("generated_text", "")),
                image_size=_pair(data.get("image_size")),
                patch_grid=_pair(data.get("patch_grid")),
                timings={str(k): float(v) for k, v in data.get("timings", {}).items()},
                provenance=dict(data.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, SchemaError):
                raise
            raise SchemaError(f"corrupt {SCHEMA} document: {type(err).__name__}: {err}; "
                              "re-create it with Explanation.save") from err

    def save(self, path: str | Path) -> Path:
        """Write the JSON document to ``path`` (parent folders are created); return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        logger.info("wrote explanation to %s", path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Explanation":
        """Read an explanation written by :meth:`save`.

        Raises
        ------
        CheckpointError
            If the file does not exist or cannot be read.
        SchemaError
            If it is not a ``whytoken.explanation/1`` document.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise CheckpointError(f"cannot read explanation file {str(path)!r}: {err.strerror or err}; "
                                  "pass the explanation.json written by `whytoken explain` or Explanation.save") from err
        return cls.from_json(text)
