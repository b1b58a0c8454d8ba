"""``python -m metaaug``: the same command line as the ``metaaug`` console script."""

import sys

from metaaug.cli import main

if __name__ == "__main__":
    sys.exit(main())
