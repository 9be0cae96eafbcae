"""``python -m xapp.cli`` runs the ``rrm`` command line."""

import sys

from rrm.xapp.cli import main

sys.exit(main())
