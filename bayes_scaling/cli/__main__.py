"""``python -m bayes_scaling.cli``."""

import sys

from bayes_scaling.cli import main

sys.exit(main())
