"""Synthetic worlds and their ground truth: seeded samples whose answers have known causes.

A world generates samples -- an image, a question, the answer and its *cause*
(the image patches and question words that determine the answer) -- from
seeds split into disjoint train, validation and test ranges, so that an
explanation of a model trained on the world can be checked against the truth.

* :mod:`whytoken.experiments.worlds.demo` -- the 6 x 6 shapes world of the
  embedded ``whytoken-demo`` model, one object per image patch.
* :mod:`whytoken.experiments.worlds.easyvqa` -- easy-VQA, a dataset written by
  others (PyPI ``easy-vqa``), with ground-truth masks derived from its pixels,
  for the ``whytoken-easyvqa`` model (imported on demand).

Worlds depend on numpy and Pillow only (no torch), so that ground truth can be
generated and inspected anywhere.

Examples
--------
>>> from whytoken.experiments.worlds import demo
>>> demo.generate("val", 1)[0].split
'val'
"""

from whytoken.experiments.worlds import demo

__all__ = ["demo"]
