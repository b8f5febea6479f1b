"""The causal core: CI tests, the ICD family of structure learners and PDS-trees.

No torch here: everything works on numpy arrays and :class:`whytoken.graphs.PAG`.
"""

from whytoken.causal.base import (
    BatchCITest,
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
from whytoken.causal.ci_tests import (
    DSeparationOracle,
    PartialCorrelationTest,
    attention_to_correlation,
    fisher_z_pvalue,
)

__all__ = [
    "BatchCITest",
    "CIResult",
    "CITest",
    "DSeparationOracle",
    "LearnResult",
    "Learner",
    "PartialCorrelationTest",
    "attention_to_correlation",
    "check_order",
    "fisher_z_pvalue",
    "get_learner",
    "learn_pag",
    "list_learners",
    "register_learner",
]
