"""Registries: things of one kind looked up by name, failing loudly.

whytoken finds its structure learners, verification criteria, interventions,
attribution baselines, experiment executors, dataset kinds and graph file
formats by name, so that a new one is added by registering it, not by editing
an ``if`` chain, and so that the CLI can offer the registered names as its
choices. Every such table is a :class:`Registry`:

* a name is registered once; registering another object under a taken name
  raises :class:`~whytoken.errors.DuplicateRegistrationError` unless
  ``overwrite=True`` (registering the same object again is allowed, so
  re-importing a module is harmless);
* looking up an unknown name raises the registry's own
  :class:`~whytoken.errors.RegistryError` subclass (``UnknownLearnerError``,
  ``UnknownFormatError``, ...) with a message that gives the bad name, the
  known names, a close match when there is one, and how to add a new entry;
* names iterate in sorted order, whatever the order of registration (which
  depends on import order).

The public ``register_*``/``get_*``/``list_*`` functions of the subpackages
are thin wrappers around one registry each.

This module imports nothing but :mod:`whytoken.errors`.

Examples
--------
>>> from whytoken.errors import UnknownLearnerError
>>> from whytoken.registry import Registry
>>> solvers = Registry("solver", error=UnknownLearnerError,
...                    fix="Register a new one with @solvers.register(name).")
>>> @solvers.register("newton")
... def newton(x):
...     return x
>>> solvers.names(), "newton" in solvers, solvers.get("newton") is newton
(['newton'], True, True)
>>> solvers.get("newtn")
Traceback (most recent call last):
...
whytoken.errors.UnknownLearnerError: unknown solver 'newtn'; known solvers: newton. Did you mean 'newton'? \
Register a new one with @solvers.register(name).
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Generic, Iterator, TypeVar, overload

from whytoken.errors import DuplicateRegistrationError, InvalidParameterError, RegistryError

__all__ = ["Registry"]

T = TypeVar("T")
Obj = TypeVar("Obj")


class Registry(Generic[T]):
    """Named entries of one kind, with loud failures for unknown and duplicate names.

    Parameters
    ----------
    kind : str
        What an entry is, in the singular, as messages should say it:
        ``"learner"``, ``"graph format"``.
    error : type of RegistryError
        The exception :meth:`get` and :meth:`unregister` raise for an unknown
        name (a subclass of :class:`~whytoken.errors.RegistryError`, e.g.
        :class:`~whytoken.errors.UnknownLearnerError`).
    plural : str, optional
        The plural of ``kind`` (default: ``kind + "s"``).
    fix : str, optional
        The sentence that ends an unknown-name message and tells how to add an
        entry, e.g. ``"Register a new one with @register_learner(name)."``
        (default: a generic one).
    name_attribute : str, optional
        When given, :meth:`register` sets this attribute of each registered
        object to its name, so that a registered class knows its registry name
        (``cls.name``).
    case_sensitive : bool
        When false, names are stored and looked up in lower case.

    Examples
    --------
    >>> from whytoken.errors import UnknownFormatError
    >>> formats = Registry("format", error=UnknownFormatError, case_sensitive=False)
    >>> _ = formats.register("JSON", ".json")
    >>> formats.get("Json"), list(formats), len(formats)
    ('.json', ['json'], 1)
    >>> formats.register("json", ".js")
    Traceback (most recent call last):
    ...
    whytoken.errors.DuplicateRegistrationError: a format is already registered as 'json' (str); pass \
overwrite=True to replace it
    >>> formats.register("json", ".js", overwrite=True)
    '.js'
    """

    def __init__(
        self,
        kind: str,
        *,
        error: type[RegistryError] = RegistryError,
        plural: str | None = None,
        fix: str | None = None,
        name_attribute: str | None = None,
        case_sensitive: bool = True,
    ) -> None:
        if not (isinstance(error, type) and issubclass(error, RegistryError)):
            raise InvalidParameterError(
                f"error must be a subclass of whytoken.errors.RegistryError, got {error!r}; "
                "define one in whytoken.errors"
            )
        self.kind = kind
        self.error = error
        self.plural = plural if plural is not None else f"{kind}s"
        self.fix = fix if fix is not None else f"Pass one of the known {self.plural} or register a new one."
        self.name_attribute = name_attribute
        self.case_sensitive = case_sensitive
        self._entries: dict[str, T] = {}

    def _key(self, name: Any) -> Any:
        return name if self.case_sensitive or not isinstance(name, str) else name.lower()

    @overload
    def register(self, name: str, obj: None = None, *, overwrite: bool = False) -> Callable[[Obj], Obj]: ...

    @overload
    def register(self, name: str, obj: Obj, *, overwrite: bool = False) -> Obj: ...

    def register(self, name: str, obj: Any = None, *, overwrite: bool = False) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator that does.

        Parameters
        ----------
        name : str
            A non-empty name.
        obj : object, optional
            The entry. Leave it out to use the call as a decorator:
            ``@registry.register("name")``.
        overwrite : bool
            Replace an entry registered under ``name`` by another object.

        Returns
        -------
        object
            ``obj`` itself (or the decorator), so a decorated class or
            function stays what it was.

        Raises
        ------
        DuplicateRegistrationError
            ``name`` holds another object and ``overwrite`` is false.
        InvalidParameterError
            ``name`` is not a non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"a {self.kind} name must be a non-empty str, got {name!r}")
        if obj is None:
            return lambda target: self.register(name, target, overwrite=overwrite)
        key = self._key(name)
        existing = self._entries.get(key)
        if existing is not None and not overwrite and not (existing is obj or existing == obj):
            label = getattr(existing, "__name__", None) or type(existing).__name__
            raise DuplicateRegistrationError(
                f"a {self.kind} is already registered as {key!r} ({label}); pass overwrite=True to replace it"
            )
        if self.name_attribute is not None:
            setattr(obj, self.name_attribute, key)
        self._entries[key] = obj
        return obj

    def unregister(self, name: str) -> T:
        """Remove the entry registered as ``name`` and return it.

        Raises
        ------
        RegistryError
            The registry's ``error`` class, if ``name`` is not registered.
        """
        entry = self.get(name)
        del self._entries[self._key(name)]
        return entry

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        Raises
        ------
        RegistryError
            The registry's ``error`` class, if ``name`` is not registered; the
            message names it, lists the known names and says how to add one.
        """
        key = self._key(name)
        try:
            return self._entries[key]
        except (KeyError, TypeError):  # TypeError: an unhashable name
            pass
        names = self.names()
        close = difflib.get_close_matches(key, names, n=1) if isinstance(key, str) else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise self.error(
            f"unknown {self.kind} {name!r}; known {self.plural}: {', '.join(names) or '(none)'}.{hint} {self.fix}"
        )

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        try:
            return self._key(name) in self._entries
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
