"""``python -m prefcal``: the same command line as the ``prefcal`` console script."""

import sys

from prefcal.cli import main

sys.exit(main())
