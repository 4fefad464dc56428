"""`python -m reprodiag` -- the same front door as the `reprodiag` command."""

import sys

from reprodiag.cli import main

if __name__ == "__main__":
    sys.exit(main())
