"""whytoken: why was this token generated?

whytoken reads a transformer's self-attention as evidence about conditional
independence between tokens, learns a partial ancestral graph (PAG) over
image-patch and text tokens, and returns the minimal set of input tokens whose
removal changes a chosen output token, verified on the model itself.

Subpackages, in dependency order:

* :mod:`whytoken.graphs` -- edge marks, PAGs, exchange formats (numpy, networkx)
* :mod:`whytoken.causal` -- CI tests, the ICD family of learners, PDS-trees (no torch)
* :mod:`whytoken.query` -- verified minimal explaining sets
* :mod:`whytoken.adapters` -- traces and interventions on Hugging Face models (torch)
* :mod:`whytoken.experiments` -- synthetic world, demo model, faithfulness harness

Examples
--------
>>> import whytoken
>>> whytoken.__version__
'0.1.0'
"""

from whytoken.errors import WhytokenError

__version__ = "0.1.0"

__all__ = ["WhytokenError", "__version__"]
