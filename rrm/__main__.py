"""``python -m rrm`` runs the ``rrm`` command line."""

import sys

from rrm.cli import main

sys.exit(main())
