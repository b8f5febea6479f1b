"""What the search did and what it advises: interventions, per-head graphs, the budget, hints.

:class:`Check` records one intervention (a set removed and the model's
answer), :class:`HeadResult` what one attention head contributed (its PAG and
PDS-tree), :class:`SearchSummary` the budget the search spent and on what,
and :class:`Hint` a structured suggestion for a result that found nothing,
rendered for Python (``n_samples=64``) or the command line (``--n-samples 64``).

Examples
--------
>>> Hint("n_samples", 64, "more power for the tests").cli(), Hint("include_special", True, "").python()
('--n-samples 64', 'include_special=True')
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from whytoken.graphs import PAG
from whytoken.query.records import InterventionOutcome, _optional_int

__all__ = ["Check", "HeadResult", "SearchSummary", "Hint"]


@dataclass(frozen=True)
class Check:
    """One intervention the search made: a set removed and what the model said.

    Attributes
    ----------
    positions : tuple of int
        The removed positions, sorted.
    stage : str
        The search stage that asked for it (``"pool"``, ``"singles"``, ``"pairs"``, ``"groups"``,
        ``"shrink"``, ``"fallback"``, ``"minimality"``, ...).
    outcome : InterventionOutcome
    """

    positions: tuple[int, ...]
    stage: str
    outcome: InterventionOutcome

    @property
    def changed(self) -> bool:
        return self.outcome.changed

    @property
    def effect(self) -> float:
        return self.outcome.effect

    def to_json(self) -> dict[str, Any]:
        return {"positions": list(self.positions), "stage": self.stage, **self.outcome.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Check":
        return cls(tuple(int(p) for p in data["positions"]), str(data["stage"]), InterventionOutcome.from_json(data))


@dataclass(frozen=True)
class HeadResult:
    """What one attention head contributed to the query.

    Attributes
    ----------
    head : int
    pag : PAG
        The learned graph; node ids are sequence positions, node attributes ``kind``, ``text``, ``label``.
    n_ci_tests : int
        CI tests the learner ran.
    learn_seconds : float
    pds_depth : mapping of int -> int
        Position -> distance from the target in the PDS-tree, within ``max_range``.
    method : str
        The learner.
    """

    head: int
    pag: PAG
    n_ci_tests: int
    learn_seconds: float
    pds_depth: Mapping[int, int]
    method: str

    @property
    def n_nodes(self) -> int:
        return len(self.pag)

    @property
    def n_edges(self) -> int:
        return self.pag.number_of_edges()

    def to_json(self, include_pag: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"head": self.head, "method": self.method, "n_nodes": self.n_nodes,
                                "n_edges": self.n_edges, "n_ci_tests": self.n_ci_tests,
                                "learn_seconds": self.learn_seconds,
                                "pds_depth": {str(k): v for k, v in sorted(self.pds_depth.items())}}
        if include_pag:
            data["pag"] = self.pag.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "HeadResult":
        return cls(head=int(data["head"]), pag=PAG.from_json(data["pag"]), n_ci_tests=int(data["n_ci_tests"]),
                   learn_seconds=float(data["learn_seconds"]),
                   pds_depth={int(k): int(v) for k, v in data["pds_depth"].items()}, method=str(data["method"]))


@dataclass(frozen=True)
class SearchSummary:
    """The budget the search spent, on what, and the limits it ran under.

    Attributes
    ----------
    policy : str
        The search policy (see :func:`whytoken.query.list_policies`).
    max_passes : int
        The budget: most removal sets sent to the model (one forward sequence each).
    passes_used : int
        Removal sets actually sent (never more than ``max_passes``).
    passes_by_stage : mapping of str -> int
        ``passes_used`` split by the stage that asked for them.
    n_model_calls : int
        Batched calls to the model.
    pool_size : int
        Removable tokens (the pool an exhaustive search draws from).
    exhaustive_passes : int
        What an exhaustive search over the same pool needs to find every set of the
        smallest size found (all subsets up to that size; up to ``max_set_size``, or the
        pool's size, when nothing was found).
    first_verified_at : int or None
        Passes up to and including the first removal that changed the target.
    stopped : str
        Why the search ended: ``"done"`` (its stages ran to completion), ``"budget"``
        (``max_passes`` reached) or ``"unverified"`` (``verify=False``).
    pool_changes_target : bool or None
        Whether removing the whole pool at once changed the target (None: not checked).
    max_set_size : int or None
        Largest set size allowed (None: no limit but the pool and the budget).
    max_range : int or None
        Deepest PDS-tree level counted as graph support.
    """

    policy: str
    max_passes: int
    passes_used: int
    passes_by_stage: Mapping[str, int]
    n_model_calls: int
    pool_size: int
    exhaustive_passes: int
    first_verified_at: int | None
    stopped: str
    pool_changes_target: bool | None
    max_set_size: int | None
    max_range: int | None

    @property
    def n_interventions(self) -> int:
        """Alias of :attr:`passes_used` (the name used before the budgeted search)."""
        return self.passes_used

    @property
    def exhaustive_interventions(self) -> int:
        """Alias of :attr:`exhaustive_passes`."""
        return self.exhaustive_passes

    def describe(self) -> str:
        """One line: passes used of the budget, by stage."""
        stages = ", ".join(f"{k} {v}" for k, v in self.passes_by_stage.items() if v)
        return (f"{self.passes_used} of {self.max_passes} forward passes ({stages or 'none'}); "
                f"exhaustive search: {self.exhaustive_passes}")

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["passes_by_stage"] = dict(self.passes_by_stage)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SearchSummary":
        if "passes_used" not in data:  # schema /1
            return cls(policy="pds-tree (schema 1)", max_passes=int(data.get("n_interventions", 0)),
                       passes_used=int(data.get("n_interventions", 0)),
                       passes_by_stage={"pds-tree": int(data.get("n_interventions", 0))},
                       n_model_calls=int(data.get("n_model_calls", 0)),
                       pool_size=int(data.get("n_candidate_nodes", 0)),
                       exhaustive_passes=int(data.get("exhaustive_interventions", 0)),
                       first_verified_at=_optional_int(data.get("first_verified_at")), stopped="done",
                       pool_changes_target=None, max_set_size=_optional_int(data.get("max_set_size")),
                       max_range=_optional_int(data.get("max_range")))
        kwargs = {f.name: data[f.name] for f in fields(cls)}
        kwargs["passes_by_stage"] = {str(k): int(v) for k, v in kwargs["passes_by_stage"].items()}
        return cls(**kwargs)


@dataclass(frozen=True)
class Hint:
    """A structured suggestion for a result that found nothing: a parameter, a value and why.

    Rendered for the Python API with :meth:`python` (``n_samples=64``) and for the
    command line with :meth:`cli` (``--n-samples 64``); booleans become flags.
    """

    parameter: str
    value: Any
    reason: str = ""

    def python(self) -> str:
        return f"{self.parameter}={self.value!r}"

    def cli(self) -> str:
        flag = "--" + self.parameter.replace("_", "-")
        if self.value is True:
            return flag
        if self.value is False:
            return "--no-" + self.parameter.replace("_", "-")
        return f"{flag} {self.value}"

    def to_json(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "value": self.value, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Hint":
        return cls(str(data["parameter"]), data.get("value"), str(data.get("reason", "")))

