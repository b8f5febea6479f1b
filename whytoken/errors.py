"""The exception hierarchy of whytoken.

Every error the package raises on purpose derives from :class:`WhytokenError`,
so ``except WhytokenError`` catches them all. Each subclass also derives from
the closest built-in (``ValueError``, ``LookupError``, ``RuntimeError``) so
code written against the built-ins keeps working.

Messages follow one pattern: the bad value, what was expected, and how to fix
it.

Every class carries the exit code the command line uses for it (``exit_code``):
2 for bad input or an environment the user can fix (a wrong path, a full disk,
an unsupported model), 1 for :class:`InternalError` (a bug in whytoken or a
dependency, wrapped with what was being done).

Examples
--------
>>> from whytoken.errors import WhytokenError, UnknownLearnerError
>>> issubclass(UnknownLearnerError, WhytokenError)
True
>>> UnknownLearnerError.exit_code, InternalError.exit_code
(2, 1)
"""

from __future__ import annotations

__all__ = [
    "WhytokenError",
    "InvalidParameterError",
    "NodeNotFoundError",
    "InvalidGraphError",
    "SchemaError",
    "InvalidAttentionError",
    "InvalidOrderError",
    "RegistryError",
    "UnknownLearnerError",
    "UnknownAdapterError",
    "UnknownModelError",
    "UnknownInterventionError",
    "UnknownFormatError",
    "DuplicateRegistrationError",
    "AdapterError",
    "AttentionCaptureError",
    "InvalidImageError",
    "InvalidPromptError",
    "ContextLengthError",
    "ModelMismatchError",
    "TargetError",
    "LayerError",
    "InterventionError",
    "CheckpointError",
    "OutputError",
    "InternalError",
    "ExplanationError",
    "ConfigError",
    "UnknownBaselineError",
    "UnknownExecutorError",
    "UnknownDatasetError",
    "UnknownCriterionError",
    "UnknownProposerError",
    "UnknownPolicyError",
]


class WhytokenError(Exception):
    """Base class of every error raised by whytoken."""

    #: Exit code of the ``whytoken`` command for this error: 2 = bad input or a fixable environment.
    exit_code: int = 2


class InvalidParameterError(WhytokenError, ValueError):
    """A numeric or categorical parameter is outside its allowed range."""


class NodeNotFoundError(WhytokenError, LookupError):
    """A node (token position) is not in the graph or trace."""

    def __str__(self) -> str:  # LookupError would repr() the message
        return str(self.args[0]) if self.args else ""


class InvalidGraphError(WhytokenError, ValueError):
    """A graph operation would produce an invalid graph (self-loop, bad mark, ...)."""


class SchemaError(WhytokenError, ValueError):
    """Serialized data (JSON, GraphML, trace files) is corrupt or has the wrong schema."""


class InvalidAttentionError(WhytokenError, ValueError):
    """An attention or correlation matrix is not usable (shape, NaN, not stochastic)."""


class InvalidOrderError(WhytokenError, ValueError):
    """A causal order is missing nodes, repeats nodes or names unknown nodes."""


class RegistryError(WhytokenError, LookupError):
    """Base class of registry failures (unknown or duplicate names)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownLearnerError(RegistryError):
    """No structure learner is registered under the requested name."""


class UnknownAdapterError(RegistryError):
    """No adapter is registered for the model's architecture."""


class UnknownModelError(RegistryError):
    """A model short name or path does not resolve to a known checkpoint."""


class UnknownInterventionError(RegistryError):
    """No intervention kind is registered under the requested name."""


class UnknownFormatError(RegistryError):
    """An export/import format is not supported."""


class DuplicateRegistrationError(RegistryError):
    """A name is registered twice without ``overwrite=True``."""


class AdapterError(WhytokenError, RuntimeError):
    """Base class of failures while running a model through an adapter."""


class AttentionCaptureError(AdapterError):
    """The model cannot return attention weights (SDPA/flash kernels, NaN in fp16, ...)."""


class InvalidImageError(AdapterError, ValueError):
    """An image is missing, unreadable, of the wrong mode/size, or given to a text-only model."""


class InvalidPromptError(AdapterError, ValueError):
    """A prompt is empty or cannot be tokenized."""


class ContextLengthError(InvalidPromptError):
    """The prompt plus the tokens to generate exceed the model's context window
    (``max_position_embeddings``), or a trace is longer than the model replaying it accepts."""


class ModelMismatchError(AdapterError, ValueError):
    """A trace is predicted or explained with a model other than the one that made it
    (different weights fingerprint, class, depth or vocabulary)."""


class TargetError(WhytokenError, IndexError):
    """A target token index or text does not name a valid (generated) position."""


class LayerError(WhytokenError, IndexError):
    """A layer or head index is outside the model's range."""


class InterventionError(AdapterError, ValueError):
    """An intervention is malformed (e.g. the removal set contains the target)."""


class CheckpointError(WhytokenError, OSError):
    """A path is not a loadable checkpoint, trace or explanation file."""


class OutputError(WhytokenError, OSError):
    """A file or directory cannot be written: disk full, permission denied, read-only
    file system, or a file where a directory is expected (and the reverse).

    Raised by :mod:`whytoken.files`; the message names the path, the system's reason
    and the fix. A failed write never leaves a damaged file behind: the previous
    content, if any, is kept.
    """


class InternalError(WhytokenError, RuntimeError):
    """An unexpected failure inside whytoken or a dependency, wrapped with what was being done.

    Not bad input: the command line exits with code 1 and asks for a bug report.
    """

    exit_code = 1


class ExplanationError(WhytokenError, RuntimeError):
    """The explanation query cannot run with the given inputs."""


class ConfigError(WhytokenError, ValueError):
    """An experiment configuration is invalid."""


class UnknownBaselineError(RegistryError):
    """No attribution method (baseline) is registered under the requested name."""


class UnknownExecutorError(RegistryError):
    """No experiment executor is registered under the requested name."""


class UnknownDatasetError(RegistryError):
    """No experiment dataset kind is registered under the requested name."""


class UnknownCriterionError(RegistryError):
    """No verification criterion (when does a removal change the target?) is registered under the requested name."""


class UnknownProposerError(RegistryError):
    """A proposal strategy name (``whytoken.query.list_proposers``) is not registered."""


class UnknownPolicyError(RegistryError):
    """A search policy name (``whytoken.query.list_policies``) is not registered."""
