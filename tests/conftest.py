"""Suite-wide settings: offline model hubs and a fixed, small thread count.

The machines running the suite have 2 cores and no model hub; every loader
must work offline, and torch's default thread count makes small ops slow on
a shared machine (see ../shared/MODELS.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config):
    threads = int(os.environ.get("WHYTOKEN_TEST_THREADS", "1"))
    try:
        import torch
    except ImportError:  # the causal core's tests do not need torch
        return
    torch.set_num_threads(threads)
