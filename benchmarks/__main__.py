"""``python -m benchmarks``: see ``benchmarks/README.md``."""

import sys

from ._runner import main

sys.exit(main())
