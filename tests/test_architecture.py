"""The package layout enforces its dependency direction.

``whytoken.graphs`` <- ``whytoken.causal`` <- ``whytoken.query`` <-
``whytoken.adapters``: the lower layers must import without torch or
transformers, so that graphs and explanations can be analysed on machines
without a deep-learning stack.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

TORCH_FREE = ["whytoken", "whytoken.errors", "whytoken.registry", "whytoken.graphs", "whytoken.causal",
              "whytoken.query", "whytoken.adapters.trace"]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_lower_layers_do_not_import_torch(module):
    code = (
        "import sys, importlib\n"
        f"importlib.import_module({module!r})\n"
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {module} pulled in {out.stdout.strip()}"


@pytest.mark.parametrize(
    "lower, upper",
    [("whytoken/graphs", "whytoken.causal"), ("whytoken/graphs", "whytoken.query"),
     ("whytoken/graphs", "whytoken.adapters"), ("whytoken/causal", "whytoken.query"),
     ("whytoken/causal", "whytoken.adapters"), ("whytoken/causal", "whytoken.experiments"),
     ("whytoken/graphs", "whytoken.experiments")],
)
def test_no_upward_imports(lower, upper):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = [
        str(path.relative_to(root))
        for path in (root / lower).rglob("*.py")
        if f"import {upper}" in path.read_text() or f"from {upper}" in path.read_text()
    ]
    assert offenders == [], f"{lower} must not import {upper}: {offenders}"
