"""Graphviz DOT, drawn with PAG arrowheads by ``dot -Tpng`` and read back without pydot or pygraphviz.

Edges are ``dir=both`` with ``arrowtail``/``arrowhead`` ``none`` (tail),
``normal`` (arrow) or ``odot`` (circle). Node ids, attributes and meta are
kept exactly, as JSON, in the ``whytoken_id``, ``whytoken_attrs`` and
``whytoken_meta`` attributes that Graphviz ignores. The reader here parses
the DOT language itself (a recursive-descent parser over a small lexer).

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> g = PAG(); g.add_edge("a", "b", Mark.TAIL, Mark.ARROW)
>>> pag_from_dot(pag_to_dot(g)) == g
True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from whytoken.errors import SchemaError
from whytoken.graphs.io._files import PathLike, as_path, read_text, with_path, write_text
from whytoken.graphs.io._schema import (
    PAG_SCHEMA,
    Builder,
    check_node_id,
    meta_json,
    node_json,
    parse_mark,
    reject_constant,
    valid_id,
)
from whytoken.graphs.marks import Mark
from whytoken.graphs.pag import PAG

__all__ = ["pag_to_dot", "pag_from_dot"]


_ARROW_OF_MARK: dict[Mark, str] = {Mark.TAIL: "none", Mark.ARROW: "normal", Mark.CIRCLE: "odot"}
_MARK_OF_ARROW: dict[str, Mark] = {arrow: mark for mark, arrow in _ARROW_OF_MARK.items()}
_DOT_KEYWORDS = {"strict", "graph", "digraph", "node", "edge", "subgraph"}


def _dot_quote(text: str) -> str:
    """A DOT quoted string; Graphviz reads back exactly ``text`` (the only DOT escape is ``\\"``)."""
    if text.endswith("\\"):
        raise ValueError("a DOT quoted string cannot end with a backslash")
    return '"' + text.replace('"', '\\"') + '"'


def _dot_label(text: str) -> str:
    """A display label in Graphviz escString syntax (cosmetic: exact values live in whytoken_attrs)."""
    escaped = text.replace("\\", "\\\\").replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    if escaped.endswith("\\"):
        escaped += " "
    return _dot_quote(escaped)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def pag_to_dot(pag: PAG, path: PathLike | None = None) -> str:
    """Graphviz DOT text for ``pag``; also written to ``path`` (UTF-8) when given.

    Each edge is ``"u" -> "v" [dir=both, arrowtail=..., arrowhead=..., mark_u=..., mark_v=...]``
    with ``none`` for a tail, ``normal`` for an arrowhead and ``odot`` for a circle, so
    ``dot -Tpng`` draws the PAG; ``mark_u``/``mark_v`` (ignored by Graphviz) keep the marks even
    if the arrows are restyled. Node ids, attributes and meta are kept exactly as JSON in
    ``whytoken_id``, ``whytoken_attrs`` and ``whytoken_meta``.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(); g.add_node(0, label="The"); g.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)
    >>> print(pag_to_dot(g))
    digraph PAG {
      graph [whytoken_schema="whytoken.pag/1", whytoken_meta="{}"];
      "0" [label="The", whytoken_id="0", whytoken_attrs="{\\"label\\":\\"The\\"}"];
      "1" [label="1", whytoken_id="1", whytoken_attrs="{}"];
      "0" -> "1" [dir=both, arrowtail=odot, arrowhead=normal, mark_u=circle, mark_v=arrow];
    }
    <BLANKLINE>
    """
    ids = [check_node_id(n, "DOT") for n in pag.nodes]
    names = [str(i) for i in ids]
    if len(set(names)) != len(names) or not all(n.isprintable() and "\\" not in n for n in names):
        names = [f"n{i}" for i in range(len(ids))]
    name_of = dict(zip(pag.nodes, names))
    lines = [
        "digraph PAG {",
        f"  graph [whytoken_schema={_dot_quote(PAG_SCHEMA)}, whytoken_meta={_dot_quote(_json_text(meta_json(pag)))}];",
    ]
    for node, node_id in zip(pag.nodes, ids):
        attrs = node_json(pag, node)
        label = attrs.get("label", str(node_id))
        display = label if isinstance(label, str) else _json_text(label)
        lines.append(
            f"  {_dot_quote(name_of[node])} [label={_dot_label(display)}, "
            f"whytoken_id={_dot_quote(_json_text(node_id))}, whytoken_attrs={_dot_quote(_json_text(attrs))}];"
        )
    for e in pag.edges():
        lines.append(
            f"  {_dot_quote(name_of[e.u])} -> {_dot_quote(name_of[e.v])} "
            f"[dir=both, arrowtail={_ARROW_OF_MARK[e.at_u]}, arrowhead={_ARROW_OF_MARK[e.at_v]}, "
            f"mark_u={e.at_u.value}, mark_v={e.at_v.value}];"
        )
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if path is not None:
        write_text(as_path(path), text, "DOT")
    return text


class _Token(NamedTuple):
    kind: str  # "id", "keyword", "punct", "edgeop", "end" ("qid" before quoted strings are joined)
    value: str
    line: int


_DOT_LEXEME = re.compile(
    r"""
     (?P<space>[ \t\r\f\v\n]+)
    |(?P<comment>(?<![^\n])\#[^\n]*|//[^\n]*|/\*.*?\*/)
    |(?P<edgeop>->|--)
    |(?P<punct>[{}\[\];,=:+])
    |(?P<quoted>"(?:[^"\\]|\\"|\\(?!"))*")
    |(?P<id>-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)|[A-Za-z_\u0080-\U0010FFFF][A-Za-z_0-9\u0080-\U0010FFFF]*)
    """,
    re.VERBOSE | re.DOTALL,
)
# Inside a quoted string Graphviz turns \" into " and drops escaped line ends; every other
# backslash stays (a backslash never escapes a backslash).
_DOT_ESCAPE = re.compile(r'\\\\\r?\n|\\\r?\n|\\"')


def _dot_tokens(text: str) -> list[_Token]:
    """Tokens of DOT text, following Graphviz's lexer (comments, ``#`` lines, quoted strings, ``+``)."""
    tokens: list[_Token] = []
    i, n, line = 0, len(text), 1
    while i < n:
        m = _DOT_LEXEME.match(text, i)
        if m is None:
            if text[i] == "<":  # an HTML string: balanced <...>
                depth, j = 0, i
                while j < n:
                    depth += {"<": 1, ">": -1}.get(text[j], 0)
                    if depth == 0:
                        break
                    j += 1
                if depth:
                    raise SchemaError(f"DOT line {line}: unterminated HTML string; expected a matching '>'")
                tokens.append(_Token("id", text[i + 1 : j], line))
                line += text.count("\n", i, j)
                i = j + 1
                continue
            if text[i] == '"':
                raise SchemaError(f"DOT line {line}: unterminated quoted string; expected a closing '\"'")
            if text.startswith("/*", i):
                raise SchemaError(f"DOT line {line}: unterminated /* comment; expected */")
            raise SchemaError(
                f"DOT line {line}: unexpected character {text[i]!r}; expected an ID, a quoted string or punctuation"
            )
        kind, value = m.lastgroup, m.group()
        if kind == "quoted":
            content = _DOT_ESCAPE.sub(lambda e: '"' if e.group().endswith('"') else "", value[1:-1])
            tokens.append(_Token("qid", content, line))
        elif kind == "id":
            keyword = value.lower() in _DOT_KEYWORDS
            tokens.append(_Token("keyword" if keyword else "id", value.lower() if keyword else value, line))
        elif kind in ("edgeop", "punct"):
            tokens.append(_Token(kind, value, line))
        line += value.count("\n")
        i = m.end()
    # Graphviz joins "a" + "b" into one quoted string.
    merged: list[_Token] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        if tok.kind == "qid":
            value = tok.value
            while k + 2 < len(tokens) and tokens[k + 1].kind == "punct" and tokens[k + 1].value == "+" \
                    and tokens[k + 2].kind == "qid":
                value += tokens[k + 2].value
                k += 2
            tok = _Token("id", value, tok.line)
        merged.append(tok)
        k += 1
    # Enough end tokens that the parser's look-ahead never runs off the list.
    merged.extend([_Token("end", "", line)] * 3)
    return merged


@dataclass
class _DotGraph:
    directed: bool
    graph_attrs: dict[str, str]
    nodes: dict[str, dict[str, str]]
    edges: list[tuple[str, str, dict[str, str], int]]


class _DotParser:
    """Recursive-descent parser for one DOT graph without subgraphs."""

    def __init__(self, text: str) -> None:
        self.tokens = _dot_tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[self.pos + offset]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        if tok.kind != "end":  # stay on the end tokens
            self.pos += 1
        return tok

    def expect(self, kind: str, value: str | None = None) -> _Token:
        tok = self.take()
        if tok.kind != kind or (value is not None and tok.value != value):
            wanted = value or kind
            raise SchemaError(f"DOT line {tok.line}: found {tok.value or tok.kind!r}; expected {wanted!r}")
        return tok

    def is_punct(self, value: str) -> bool:
        tok = self.tokens[self.pos]
        return tok.kind == "punct" and tok.value == value

    def parse(self) -> _DotGraph:
        if self.peek().kind == "keyword" and self.peek().value == "strict":
            self.take()
        head = self.take()
        if head.kind != "keyword" or head.value not in ("graph", "digraph"):
            raise SchemaError(f"DOT line {head.line}: found {head.value or head.kind!r}; expected 'graph' or 'digraph'")
        graph = _DotGraph(head.value == "digraph", {}, {}, [])
        if self.peek().kind == "id":
            self.take()
        self.expect("punct", "{")
        node_defaults: dict[str, str] = {}
        edge_defaults: dict[str, str] = {}
        while not self.is_punct("}"):
            tok = self.peek()
            if tok.kind == "end":
                raise SchemaError(f"DOT line {tok.line}: the graph is not closed; expected '}}'")
            if (tok.kind == "keyword" and tok.value == "subgraph") or self.is_punct("{"):
                raise SchemaError(
                    f"DOT line {tok.line}: subgraphs are not supported; expected node, edge and attribute statements"
                )
            if tok.kind == "keyword" and tok.value in ("graph", "node", "edge"):
                self.take()
                attrs = self.attr_list()
                {"graph": graph.graph_attrs, "node": node_defaults, "edge": edge_defaults}[tok.value].update(attrs)
            elif tok.kind == "id" and self.peek(1).kind == "punct" and self.peek(1).value == "=":
                self.take()
                self.take()
                graph.graph_attrs[tok.value] = self.expect("id").value
            elif tok.kind == "id":
                chain = [self.node_id()]
                while self.peek().kind == "edgeop":
                    op = self.take()
                    if (op.value == "->") != graph.directed:
                        raise SchemaError(
                            f"DOT line {op.line}: edge operator {op.value!r} in a "
                            f"{'digraph' if graph.directed else 'graph'}; expected {'->' if graph.directed else '--'}"
                        )
                    chain.append(self.node_id())
                attrs = self.attr_list()
                for name in chain:
                    if name not in graph.nodes:
                        graph.nodes[name] = dict(node_defaults)
                if len(chain) == 1:
                    graph.nodes[chain[0]].update(attrs)
                for a, b in zip(chain, chain[1:]):
                    graph.edges.append((a, b, {**edge_defaults, **attrs}, tok.line))
            else:
                raise SchemaError(f"DOT line {tok.line}: found {tok.value or tok.kind!r}; expected a statement")
            while self.is_punct(";") or self.is_punct(","):
                self.take()
        self.take()
        tail = self.peek()
        if tail.kind != "end":
            raise SchemaError(
                f"DOT line {tail.line}: text after the graph ({tail.value!r}); expected one graph per file"
            )
        return graph

    def node_id(self) -> str:
        name = self.expect("id").value
        # Ports (node:port:compass) do not change which node an edge touches.
        while self.is_punct(":"):
            self.take()
            self.expect("id")
        return name

    def attr_list(self) -> dict[str, str]:
        attrs: dict[str, str] = {}
        while self.is_punct("["):
            self.take()
            while not self.is_punct("]"):
                key = self.expect("id").value
                if self.is_punct("="):
                    self.take()
                    attrs[key] = self.expect("id").value
                else:
                    attrs[key] = "true"
                while self.is_punct(";") or self.is_punct(","):
                    self.take()
            self.take()
        return attrs


def _dot_marks(directed: bool, attrs: Mapping[str, str], where: str) -> tuple[Mark, Mark]:
    """Marks at the tail and head node of a DOT edge, following Graphviz's ``dir`` semantics."""
    direction = attrs.get("dir", "forward" if directed else "none")

    def arrow(name: str) -> Mark:
        value = attrs.get(name, "normal")
        if value not in _MARK_OF_ARROW:
            raise SchemaError(
                f"{where}: {name}={value!r} has no PAG mark; expected one of "
                f"{', '.join(repr(a) for a in _MARK_OF_ARROW)} (tail, arrowhead, circle)"
            )
        return _MARK_OF_ARROW[value]

    if direction == "both":
        return arrow("arrowtail"), arrow("arrowhead")
    if direction == "forward":
        return Mark.TAIL, arrow("arrowhead")
    if direction == "back":
        return arrow("arrowtail"), Mark.TAIL
    if direction == "none":
        return Mark.TAIL, Mark.TAIL
    raise SchemaError(f"{where}: dir={direction!r}; expected 'both', 'forward', 'back' or 'none'")


def _json_attr(attrs: Mapping[str, str], key: str, where: str) -> Any:
    try:
        return json.loads(attrs[key], parse_constant=reject_constant)
    except json.JSONDecodeError as err:
        raise SchemaError(
            f"{where}: {key}={attrs[key][:60]!r} is not valid JSON ({err.msg}); expected JSON text"
        ) from err


def _parse_dot(text: str) -> PAG:
    dot = _DotParser(text).parse()
    schema = dot.graph_attrs.get("whytoken_schema")
    if schema is not None and schema != PAG_SCHEMA:
        raise SchemaError(f"unknown schema {schema!r} in the DOT graph attributes; expected {PAG_SCHEMA!r}")
    if "whytoken_meta" in dot.graph_attrs:
        meta = _json_attr(dot.graph_attrs, "whytoken_meta", "graph")
        if not isinstance(meta, dict):
            raise SchemaError(f"graph whytoken_meta is {type(meta).__name__}; expected a JSON object")
    else:
        meta = {k: v for k, v in dot.graph_attrs.items() if k != "whytoken_schema"}
    builder = Builder(meta)
    node_of: dict[str, int | str] = {}
    for name, attrs in dot.nodes.items():
        where = f"DOT node {name!r}"
        node_id = valid_id(_json_attr(attrs, "whytoken_id", where), f"{where} whytoken_id") \
            if "whytoken_id" in attrs else name
        if "whytoken_attrs" in attrs:
            node_attrs = _json_attr(attrs, "whytoken_attrs", where)
            if not isinstance(node_attrs, dict):
                raise SchemaError(f"{where}: whytoken_attrs is {type(node_attrs).__name__}; expected a JSON object")
        else:
            node_attrs = dict(attrs)
        node_of[name] = node_id
        builder.node(node_id, node_attrs, where)
    for a, b, attrs, line in dot.edges:
        where = f"DOT line {line} edge {a!r} {'->' if dot.directed else '--'} {b!r}"
        if "mark_u" in attrs or "mark_v" in attrs:
            mark_a = parse_mark(attrs.get("mark_u"), f"{where} mark_u")
            mark_b = parse_mark(attrs.get("mark_v"), f"{where} mark_v")
        else:
            mark_a, mark_b = _dot_marks(dot.directed, attrs, where)
        builder.edge(node_of[a], node_of[b], mark_a, mark_b, where)
    return builder.pag


def pag_from_dot(source: PathLike | str) -> PAG:
    """Read a PAG from DOT: a file path, or DOT text (a str containing ``{``).

    Reads what :func:`pag_to_dot` writes and simple hand-written graphs (node, edge and attribute
    statements, comments, ports; no subgraphs). Edge marks come from ``mark_u``/``mark_v`` when
    present, else from Graphviz's ``dir``/``arrowtail``/``arrowhead`` (``none``, ``normal``,
    ``odot``). Without ``whytoken_*`` attributes node ids are the DOT names (str) and the other
    node/graph attributes become node attributes/meta (str values).

    Raises
    ------
    CheckpointError
        The file cannot be read.
    SchemaError
        Malformed DOT, an arrow shape with no PAG mark, duplicate nodes or edges, or self-loops.

    Examples
    --------
    >>> print(pag_from_dot('digraph { a -> b; b -> c [dir=both, arrowtail=odot]; }').describe())
    a --> b
    b o-> c
    """
    if isinstance(source, str) and "{" in source:
        return _parse_dot(source)
    path = as_path(source)
    text = read_text(path, "DOT")
    return with_path(path, lambda: _parse_dot(text))
