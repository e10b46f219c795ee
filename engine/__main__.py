"""``python -m engine`` is ``volta``."""

import sys

from engine.cli import main

sys.exit(main())
