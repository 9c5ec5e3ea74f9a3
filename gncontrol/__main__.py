"""`python -m gncontrol` (also what `torchrun -m gncontrol` runs)."""

import sys

from gncontrol.cli import main

sys.exit(main())
