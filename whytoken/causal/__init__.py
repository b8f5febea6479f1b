"""The causal core: CI tests, the ICD family of structure learners and PDS-trees.

No torch here: everything works on numpy arrays and :class:`whytoken.graphs.PAG`.
"""

from whytoken.causal.base import (
    CIResult,
    CITest,
    LearnResult,
    Learner,
    check_order,
    get_learner,
    learn_pag,
    list_learners,
    register_learner,
)

__all__ = [
    "CIResult",
    "CITest",
    "LearnResult",
    "Learner",
    "check_order",
    "get_learner",
    "learn_pag",
    "list_learners",
    "register_learner",
]
