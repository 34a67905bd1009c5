"""``python -m yourgpt_async._cli``: the command line, as ``python -m yourgpt_async``."""

import sys

from . import main

sys.exit(main())
