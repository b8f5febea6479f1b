"""The result of an explanation query and its JSON form (``whytoken.explanation/2``).

:func:`whytoken.query.explain` returns an :class:`Explanation`: a frozen record
of the target token, the explaining sets of the smallest size the search found
(ranked by their measured effect on the target), larger verified sets found on
the way, every intervention the search made and what it cost, what each
attention head contributed (its PAG and PDS-tree), and the provenance needed to
reproduce it. ``target="all"`` returns an :class:`AnswerExplanation`: one
explanation per generated token, with the chains through earlier generated
tokens (patch -> "red" -> "cross").

``save``/``load`` write and read stable JSON documents (``schema``
``whytoken.explanation/2`` and ``whytoken.answer/1``; documents of schema
``whytoken.explanation/1`` still load). Files are written atomically.

Status values
-------------
``explained``
    A removal changed the target under the criterion; :attr:`Explanation.explaining_set`
    is the best such set, with its checked claims (``irreducible``, ``globally_minimal``).
``not-explained``
    No set within the budget changed the target; ``message`` says what was tried
    and :attr:`Explanation.hints` what to change. This is a result, not an error.
``unverified``
    ``verify=False``: the sets are the graphs' best candidates, not checked on the model.

Examples
--------
>>> from whytoken.query.records import Member
>>> s = ExplainingSet(members=(Member(3, "prompt_text", " France"),), verified=True)
>>> s.positions, s.size
((3,), 1)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from whytoken.errors import CheckpointError, SchemaError
from whytoken.files import atomic_write_text, ensure_directory
from whytoken.graphs import PAG
from whytoken.query.records import (
    KIND_NAMES,
    ExplainingSet,
    InterventionOutcome,
    Member,
    TargetToken,
    TokenInfo,
    float_to_json,
)
from whytoken.query.summaries import Check, HeadResult, Hint, SearchSummary

__all__ = [
    "SCHEMA",
    "ANSWER_SCHEMA",
    "READABLE_SCHEMAS",
    "STATUSES",
    "KIND_NAMES",
    "Explanation",
    "AnswerExplanation",
    # re-exported records
    "TokenInfo",
    "TargetToken",
    "Member",
    "InterventionOutcome",
    "ExplainingSet",
    "Check",
    "HeadResult",
    "SearchSummary",
    "Hint",
]

logger = logging.getLogger(__name__)

#: Schema identifier written into every saved explanation.
SCHEMA = "whytoken.explanation/2"
#: Schema of a whole-answer explanation (``target="all"``).
ANSWER_SCHEMA = "whytoken.answer/1"
#: Explanation schemas :meth:`Explanation.from_json` reads.
READABLE_SCHEMAS = ("whytoken.explanation/1", SCHEMA)
#: The values :attr:`Explanation.status` takes.
STATUSES = ("explained", "not-explained", "unverified")


def _load_json(data: Mapping[str, Any] | str, what: str) -> Mapping[str, Any]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise SchemaError(f"{what} is not valid JSON ({err}); expected a document written by whytoken") from err
    if not isinstance(data, Mapping):
        raise SchemaError(f"{what} must be a JSON object, found {type(data).__name__}; "
                          "expected a document written by whytoken")
    return data


def _read_file(path: str | Path, what: str, fix: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SchemaError(f"{what} file {str(path)!r} is not UTF-8 text ({err}); {fix}") from err
    except OSError as err:
        raise CheckpointError(f"cannot read {what} file {str(path)!r}: {err.strerror or err}; {fix}") from err


@dataclass(frozen=True)
class Explanation:
    """Why the target token was generated: the verified explaining sets and their evidence.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`.
    message : str
        One plain sentence saying what was found (or not, and what was tried).
    target : TargetToken
        The explained token.
    explaining_set : ExplainingSet or None
        The answer: the first of ``explaining_sets`` (None when nothing was found).
    explaining_sets : tuple of ExplainingSet
        Every verified, irreducible set of the smallest size found, ranked by measured
        effect (largest probability drop first; graph evidence breaks ties). Each set
        says whether it is ``globally_minimal`` (every smaller set checked) -- only then
        is it a *minimal* explaining set. With ``verify=False``: the best graph candidates.
    other_sets : tuple of ExplainingSet
        Larger verified irreducible sets found on the way (smallest, then largest effect first).
    heads : tuple of HeadResult
        Per-head graphs and PDS-trees.
    search : SearchSummary
        Budget, passes by stage, why the search stopped.
    checks : tuple of Check
        Every intervention, in the order made.
    tokens : tuple of TokenInfo
        Every position up to and including the target.
    attention : mapping of int -> tuple of float
        Per head: the attention row of the position that predicted the target.
    attention_row : int or None
        The query position of that row.
    target_node : int or None
        The graph node standing for the target (the root of the PDS-trees).
    target_reason : str
        Why this token was the one explained (e.g. the first answer token after an echo of the prompt).
    hints : tuple of Hint
        What to change when nothing was found (render with ``Hint.python()`` or ``Hint.cli()``).
    prompt, generated_text : str
    image_size : (width, height) or None
    patch_grid : (rows, cols) or None
    timings : mapping of str -> float
        Seconds per step (``learn``, ``verify``, ``total``).
    provenance : mapping
        Model, weights fingerprint, layer, heads, alpha, N, learner, criterion, policy,
        budget, intervention, seed and package versions.
    """

    status: str
    message: str
    target: TargetToken
    explaining_set: ExplainingSet | None
    explaining_sets: tuple[ExplainingSet, ...]
    heads: tuple[HeadResult, ...]
    search: SearchSummary
    tokens: tuple[TokenInfo, ...]
    other_sets: tuple[ExplainingSet, ...] = ()
    checks: tuple[Check, ...] = ()
    attention: Mapping[int, tuple[float, ...]] = field(default_factory=dict)
    attention_row: int | None = None
    target_node: int | None = None
    target_reason: str = ""
    hints: tuple[Hint, ...] = ()
    prompt: str = ""
    generated_text: str = ""
    image_size: tuple[int, int] | None = None
    patch_grid: tuple[int, int] | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    schema = SCHEMA

    # ------------------------------------------------------------------ conveniences
    @property
    def minimal_sets(self) -> tuple[ExplainingSet, ...]:
        """Alias of :attr:`explaining_sets` (the name before the budgeted search; see each set's claims)."""
        return self.explaining_sets

    @property
    def verified(self) -> bool | None:
        """Whether the answer was confirmed on the model (None when verification was off)."""
        if self.status == "unverified":
            return None
        return self.explaining_set is not None and bool(self.explaining_set.verified)

    @property
    def found(self) -> bool:
        """Whether an explaining set (verified, or unverified by request) exists."""
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
    def log10_p_values(self) -> dict[int, float | None]:
        """Member position -> log10 p-value against the target (in the best head)."""
        if self.explaining_set is None:
            return {}
        return {m.position: m.log10_p_value for m in self.explaining_set.members}

    @property
    def single_token_effects(self) -> dict[int, float]:
        """Position -> measured effect of removing that token alone, for every token the search removed alone.

        These are interventions on the model, not graph evidence. Sorted by effect,
        strongest first; tokens never removed alone are absent.
        """
        effects = {c.positions[0]: c.effect for c in self.checks
                   if len(c.positions) == 1 and c.effect == c.effect}  # NaN != NaN
        return dict(sorted(effects.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def best_head(self) -> HeadResult | None:
        """The head with the strongest evidence for the answer; without one, the head whose
        PDS-tree holds the most tokens (the first such head on ties)."""
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
        """A few human-readable lines: target, answer, alternatives, budget, hints (Python spelling)."""
        lines = [f"target: {self.target.text!r} (position {self.target.position}, p={self.target.prob:.3f})"]
        if self.target_reason:
            lines.append(f"why this token: {self.target_reason}")
        lines.append(self.message)
        if self.explaining_set is not None and len(self.explaining_sets) > 1:
            lines.append(f"{len(self.explaining_sets)} sets of size {self.explaining_set.size}: "
                         + "; ".join(s.describe() for s in self.explaining_sets[:8])
                         + (" ..." if len(self.explaining_sets) > 8 else ""))
        lines.append(self.search.describe())
        for hint in self.hints:
            lines.append(f"try {hint.python()}: {hint.reason}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """The ``whytoken.explanation/2`` document as a dict (JSON-serializable)."""
        best = self.best_head
        return {
            "schema": SCHEMA,
            "status": self.status,
            "message": self.message,
            "target": self.target.to_json(),
            "target_reason": self.target_reason,
            "explaining_set": None if self.explaining_set is None else self.explaining_set.to_json(),
            "explaining_sets": [s.to_json() for s in self.explaining_sets],
            "other_sets": [s.to_json() for s in self.other_sets],
            "modality": self.modality,
            "log10_p_values": {str(k): float_to_json(v) for k, v in self.log10_p_values.items()},
            "pag": None if best is None else best.pag.to_json(),
            "pag_head": None if best is None else best.head,
            "heads": [h.to_json() for h in self.heads],
            "search": self.search.to_json(),
            "checks": [c.to_json() for c in self.checks],
            "hints": [h.to_json() for h in self.hints],
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
        """Read a ``whytoken.explanation/2`` (or ``/1``) document, a dict or a JSON string.

        Raises
        ------
        SchemaError
            If the schema field is missing or unknown, or a field is absent or malformed.
        """
        data = _load_json(data, "explanation")
        if data.get("schema") not in READABLE_SCHEMAS:
            raise SchemaError(f"expected schema {SCHEMA!r}, found {data.get('schema')!r}; "
                              "this file was not written by Explanation.save (or by a newer whytoken)")
        try:
            return cls._from_document(data)
        except SchemaError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise SchemaError(f"corrupt {data.get('schema')} document: {type(err).__name__}: {err}; "
                              "re-create it with Explanation.save") from err

    @classmethod
    def _from_document(cls, data: Mapping[str, Any]) -> "Explanation":
        attention = data.get("attention") or {}
        sets_key = "explaining_sets" if "explaining_sets" in data else "minimal_sets"
        explaining = tuple(ExplainingSet.from_json(s) for s in data[sets_key])
        best = data["explaining_set"]
        return cls(
            status=str(data["status"]),
            message=str(data["message"]),
            target=TargetToken.from_json(data["target"]),
            target_reason=str(data.get("target_reason", "")),
            explaining_set=None if best is None else ExplainingSet.from_json(best),
            explaining_sets=explaining,
            other_sets=tuple(ExplainingSet.from_json(s) for s in data.get("other_sets", ())),
            heads=tuple(HeadResult.from_json(h) for h in data["heads"]),
            search=SearchSummary.from_json(data["search"]),
            checks=tuple(Check.from_json(c) for c in data.get("checks", ())),
            hints=tuple(Hint.from_json(h) for h in data.get("hints", ())),
            tokens=tuple(TokenInfo.from_json(t) for t in data["tokens"]),
            attention={int(h): tuple(float(x) for x in row) for h, row in attention.get("per_head", {}).items()},
            attention_row=attention.get("row"),
            target_node=data.get("target_node"),
            prompt=str(data.get("prompt", "")),
            generated_text=str(data.get("generated_text", "")),
            image_size=None if data.get("image_size") is None else tuple(int(v) for v in data["image_size"]),
            patch_grid=None if data.get("patch_grid") is None else tuple(int(v) for v in data["patch_grid"]),
            timings={str(k): float(v) for k, v in data.get("timings", {}).items()},
            provenance=dict(data.get("provenance", {})),
        )

    def save(self, path: str | Path) -> Path:
        """Write the JSON document to ``path`` atomically (parent folders are created); return the path."""
        path = Path(path)
        text = json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n"
        ensure_directory(path.parent)
        atomic_write_text(path, text, what="explanation file")
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
            If it is not an explanation document.
        """
        text = _read_file(path, "explanation", "pass the explanation.json written by `whytoken explain` or "
                                               "Explanation.save")
        try:
            return cls.from_json(text)
        except SchemaError as err:
            raise SchemaError(f"{str(path)!r}: {err}") from err


@dataclass(frozen=True)
class AnswerExplanation:
    """Every generated token of an answer explained, with the chains between them.

    Attributes
    ----------
    explanations : tuple of Explanation
        One per explained generated token, in generation order.
    chains : tuple of (int, int)
        ``(source, target)`` positions: the generated token at ``source`` is a member of
        the explaining set of the token at ``target`` (so ``target``'s explanation runs
        through ``source``'s own explanation).
    skipped : tuple of (int, str)
        Generated positions not explained and why (e.g. the end-of-sequence token).
    prompt, generated_text : str
    provenance : mapping
    """

    explanations: tuple[Explanation, ...]
    chains: tuple[tuple[int, int], ...] = ()
    skipped: tuple[tuple[int, str], ...] = ()
    prompt: str = ""
    generated_text: str = ""
    provenance: Mapping[str, Any] = field(default_factory=dict)

    schema = ANSWER_SCHEMA

    def __len__(self) -> int:
        return len(self.explanations)

    def __iter__(self) -> Iterator[Explanation]:
        return iter(self.explanations)

    def __getitem__(self, index: int) -> Explanation:
        return self.explanations[index]

    def at(self, position: int) -> Explanation:
        """The explanation of the generated token at sequence ``position``."""
        for e in self.explanations:
            if e.target.position == position:
                return e
        raise KeyError(f"no explanation of position {position}; explained positions: "
                       f"{[e.target.position for e in self.explanations]}")

    def chain(self, position: int) -> list[int]:
        """The generated positions whose explanations feed the token at ``position``, nearest first."""
        out, frontier = [], [position]
        while frontier:
            current = frontier.pop(0)
            for source, target in self.chains:
                if target == current and source not in out:
                    out.append(source)
                    frontier.append(source)
        return out

    def summary(self) -> str:
        """One line per explained token."""
        lines = []
        for e in self.explanations:
            best = e.explaining_set.describe() if e.explaining_set is not None else "(none found)"
            via = self.chain(e.target.position)
            chained = f" via generated {via}" if via else ""
            lines.append(f"{e.target.text!r} @{e.target.position}: {e.status} {best}{chained}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"schema": ANSWER_SCHEMA, "prompt": self.prompt, "generated_text": self.generated_text,
                "chains": [list(c) for c in self.chains], "skipped": [list(s) for s in self.skipped],
                "provenance": dict(self.provenance), "explanations": [e.to_json() for e in self.explanations]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> "AnswerExplanation":
        """Read a ``whytoken.answer/1`` document.

        Raises
        ------
        SchemaError
            If it is not one, or it is malformed.
        """
        data = _load_json(data, "answer explanation")
        if data.get("schema") != ANSWER_SCHEMA:
            raise SchemaError(f"expected schema {ANSWER_SCHEMA!r}, found {data.get('schema')!r}; "
                              "this file was not written by AnswerExplanation.save")
        try:
            return cls(explanations=tuple(Explanation.from_json(e) for e in data["explanations"]),
                       chains=tuple((int(a), int(b)) for a, b in data.get("chains", ())),
                       skipped=tuple((int(p), str(why)) for p, why in data.get("skipped", ())),
                       prompt=str(data.get("prompt", "")), generated_text=str(data.get("generated_text", "")),
                       provenance=dict(data.get("provenance", {})))
        except SchemaError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise SchemaError(f"corrupt {ANSWER_SCHEMA} document: {type(err).__name__}: {err}; "
                              "re-create it with AnswerExplanation.save") from err

    def save(self, path: str | Path) -> Path:
        """Write the JSON document to ``path`` atomically (parent folders are created); return the path."""
        path = Path(path)
        ensure_directory(path.parent)
        atomic_write_text(path, json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n",
                          what="answer explanation file")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "AnswerExplanation":
        """Read a file written by :meth:`save` (CheckpointError / SchemaError on failure)."""
        text = _read_file(path, "answer explanation", "pass the answer.json written by `whytoken explain --target all`")
        try:
            return cls.from_json(text)
        except SchemaError as err:
            raise SchemaError(f"{str(path)!r}: {err}") from err
