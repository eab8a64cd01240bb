"""``python -m polistance_plugins.cli ...`` (what ``accelerate launch -m`` runs)."""

import sys

from . import main

sys.exit(main())
