"""``python -m whytoken.cli``: the ``whytoken`` command."""

import sys

from whytoken.cli import main

sys.exit(main())
