"""``python -m cae_sim.train DATA --out DIR``: the train command of ``cae_sim.cli`` on its own."""

import sys

from .cli import train_main as main

if __name__ == "__main__":
    sys.exit(main())
