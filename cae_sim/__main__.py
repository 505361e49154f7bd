"""``python -m cae_sim COMMAND``: the command line of ``cae_sim.cli``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
