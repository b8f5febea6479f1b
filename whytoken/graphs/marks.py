"""Edge marks and edges of partial ancestral graphs.

A PAG edge has two *endpoints*, one at each node. Each endpoint carries a
:class:`Mark`: a tail (``-``), an arrowhead (``>``) or a circle (``o``, "not
determined: tail in some members of the equivalence class, arrowhead in
others"). The usual edge kinds are pairs of marks:

============  ==========  ==========
edge          mark at u   mark at v
============  ==========  ==========
``u --> v``   TAIL        ARROW
``u <-> v``   ARROW       ARROW
``u o-> v``   CIRCLE      ARROW
``u o-o v``   CIRCLE      CIRCLE
``u --- v``   TAIL        TAIL
``u --o v``   TAIL        CIRCLE
============  ==========  ==========

Examples
--------
>>> from whytoken.graphs import Edge, Mark
>>> e = Edge(2, 1, Mark.ARROW, Mark.TAIL)   # 2 <-- 1, stored canonically
>>> e
Edge(1, 2, '-->')
>>> e.mark_at(2) is Mark.ARROW
True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Hashable

from whytoken.errors import InvalidGraphError, NodeNotFoundError

__all__ = ["Mark", "Edge", "node_sort_key"]


class Mark(enum.Enum):
    """The mark at one end of an edge."""

    TAIL = "tail"
    ARROW = "arrow"
    CIRCLE = "circle"

    @property
    def symbol(self) -> str:
        """One-character symbol as used in ``u o-> v`` notation (``-``, ``>``/``<``, ``o``)."""
        return {"tail": "-", "arrow": ">", "circle": "o"}[self.value]

    @classmethod
    def parse(cls, value: "Mark | str") -> "Mark":
        """Return the mark named by ``value`` (a Mark or one of ``tail``, ``arrow``, ``circle``).

        Examples
        --------
        >>> Mark.parse("arrow")
        <Mark.ARROW: 'arrow'>
        """
        if isinstance(value, Mark):
            return value
        try:
            return cls(str(value).lower())
        except InvalidGraphError:
            raise InvalidGraphError(
                f"unknown edge mark {value!r}; expected one of 'tail', 'arrow', 'circle'"
            ) from None

    @classmethod
    def _missing_(cls, value: object) -> "Mark":
        # Mark("x") is the enum's own lookup: raise the package's error (a ValueError) naming the value
        raise InvalidGraphError(f"unknown edge mark {value!r}; expected one of 'tail', 'arrow', 'circle'")


def node_sort_key(node: Any) -> tuple:
    """A total order over mixed node types: numbers first (by value), then by type name and repr.

    Examples
    --------
    >>> sorted([3, "a", 1.5], key=node_sort_key)
    [1.5, 3, 'a']
    """
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return (0, node, "")
    return (1, type(node).__name__, repr(node))


@dataclass(frozen=True)
class Edge:
    """An edge between two distinct nodes with a mark at each end.

    Edges are values: they are stored in canonical order (``u`` before ``v``
    by :func:`node_sort_key`) with their marks swapped accordingly, so two
    edges that denote the same thing compare equal.

    Parameters
    ----------
    u, v : hashable
        The two endpoints.
    at_u, at_v : Mark
        The marks at ``u``'s and at ``v``'s end.
    """

    u: Hashable
    v: Hashable
    at_u: Mark
    at_v: Mark

    def __post_init__(self) -> None:
        if self.u == self.v:
            raise InvalidGraphError(f"self-loop on node {self.u!r}: a PAG edge needs two distinct nodes")
        at_u, at_v = Mark.parse(self.at_u), Mark.parse(self.at_v)
        if node_sort_key(self.v) < node_sort_key(self.u):
            u, v = self.v, self.u
            at_u, at_v = at_v, at_u
            object.__setattr__(self, "u", u)
            object.__setattr__(self, "v", v)
        object.__setattr__(self, "at_u", at_u)
        object.__setattr__(self, "at_v", at_v)

    @property
    def nodes(self) -> tuple[Hashable, Hashable]:
        """The two endpoints in canonical order."""
        return (self.u, self.v)

    def mark_at(self, node: Hashable) -> Mark:
        """The mark at ``node``'s end of this edge."""
        if node == self.u:
            return self.at_u
        if node == self.v:
            return self.at_v
        raise NodeNotFoundError(f"node {node!r} is not an endpoint of {self!r}")

    def other(self, node: Hashable) -> Hashable:
        """The endpoint that is not ``node``."""
        if node == self.u:
            return self.v
        if node == self.v:
            return self.u
        raise NodeNotFoundError(f"node {node!r} is not an endpoint of {self!r}")

    @property
    def symbol(self) -> str:
        """Three-character notation read from ``u`` to ``v``, e.g. ``'o->'``."""
        left = {"tail": "-", "arrow": "<", "circle": "o"}[self.at_u.value]
        return f"{left}-{self.at_v.symbol}"

    def __repr__(self) -> str:
        return f"Edge({self.u!r}, {self.v!r}, {self.symbol!r})"
