"""Deprecated aliases: the flat module paths of earlier versions of the experiments package.

Each old module (``whytoken.experiments.world``, ``.train``, ...) is a small
file that calls :func:`deprecated_alias` with the modules that now hold its
names: importing it warns once with a :class:`DeprecationWarning` naming the
new path, and every name it used to define, public or private, resolves from
there (``from whytoken.experiments.world import generate`` keeps working and
gives the very same object). The old commands (``python -m
whytoken.experiments.train``) run the new ones through :func:`run_moved_command`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable, Sequence

__all__ = ["deprecated_alias", "run_moved_command"]


def deprecated_alias(
    old: str, new: Sequence[str], home: str | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Warn that module ``old`` moved to ``new``; return the ``__getattr__``, ``__dir__`` and ``__all__`` of ``old``.

    ``__all__`` is the union of the new modules' ``__all__`` (every public name
    the old module had, and the few its new homes added).

    Parameters
    ----------
    old : str
        The deprecated module path.
    new : sequence of str
        The modules that hold its names now, searched in order.
    home : str, optional
        Where the warning says to import from (default: ``new[0]``).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     getattr_, dir_, all_ = deprecated_alias("whytoken.experiments.old", ["whytoken.experiments.metrics"])
    >>> caught[0].category.__name__, str(caught[0].message).split(";")[0]
    ('DeprecationWarning', 'whytoken.experiments.old is deprecated')
    >>> getattr_("normalized_auc")([1.0, 0.0]), "normalized_auc" in dir_(), "normalized_auc" in all_
    (0.5, True, True)
    """
    modules = [importlib.import_module(name) for name in new]
    warnings.warn(f"{old} is deprecated; import from {home or new[0]} instead", DeprecationWarning, stacklevel=3)

    def __getattr__(name: str) -> Any:
        if not name.startswith("__"):  # module dunders (__path__, __spec__ ...) stay the alias's own
            for module in modules:
                if hasattr(module, name):
                    return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}; it moved to {', '.join(new)}")

    def __dir__() -> list[str]:
        return sorted({name for module in modules for name in dir(module)})

    public = list(dict.fromkeys(name for module in modules for name in getattr(module, "__all__", ())))
    return __getattr__, __dir__, public


def run_moved_command(old: str, new: str) -> int:
    """Run the command ``python -m new`` for ``python -m old``, with a :class:`DeprecationWarning` naming ``new``.

    Returns
    -------
    int
        The exit status of ``new``'s ``main()`` (its command-line arguments are ``sys.argv[1:]``).
    """
    warnings.warn(f"python -m {old} is deprecated; run python -m {new}", DeprecationWarning, stacklevel=2)
    return importlib.import_module(new).main()
