"""The causal core: CI tests, the ICD family of structure learners and PDS-trees.

No torch here: everything works on numpy arrays and :class:`whytoken.graphs.PAG`.

* CI tests: :class:`PartialCorrelationTest` (one attention head as evidence,
  Fisher z on partial correlations) and :class:`DSeparationOracle` (a perfect
  test from a known DAG).
* Learners, through :func:`learn_pag`: ``icd`` and ``ordered-icd``
  (:mod:`whytoken.causal.icd`), plus causal-learn's ``fci``/``pc`` when
  available.
* :func:`pds_tree`: possible-d-separating paths from a node, nearest first.
* Ground truth for tests: :func:`random_latent_dag`, :func:`mag_from_dag`,
  :func:`true_pag` (:mod:`whytoken.causal.reference`).

Examples
--------
>>> import numpy as np
>>> from whytoken.causal import PartialCorrelationTest, learn_pag
>>> A = np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0.05, 0.05, 0.9]])
>>> res = learn_pag(PartialCorrelationTest.from_attention(A, n_samples=128), [0, 1, 2],
...                 method="ordered-icd", order=[0, 1, 2])
>>> print(res.pag.describe())
0 o-> 1
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
from whytoken.causal.icd import ICD, OrderedICD
from whytoken.causal.orientation import SepsetTable, apply_rules, orient, orient_colliders, orient_pag
from whytoken.causal.pds import PDSTree, pds_reach, pds_tree
from whytoken.causal.reference import (
    is_m_separable,
    mag_from_dag,
    mag_sepsets,
    pag_by_enumeration,
    random_latent_dag,
    true_pag,
)

__all__ = [
    "BatchCITest",
    "CIResult",
    "CITest",
    "DSeparationOracle",
    "ICD",
    "LearnResult",
    "Learner",
    "OrderedICD",
    "PDSTree",
    "PartialCorrelationTest",
    "SepsetTable",
    "apply_rules",
    "attention_to_correlation",
    "check_order",
    "fisher_z_pvalue",
    "get_learner",
    "is_m_separable",
    "learn_pag",
    "list_learners",
    "mag_from_dag",
    "mag_sepsets",
    "orient",
    "orient_colliders",
    "orient_pag",
    "pag_by_enumeration",
    "pds_reach",
    "pds_tree",
    "random_latent_dag",
    "register_learner",
    "true_pag",
]
