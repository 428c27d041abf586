"""`python -m nodegraph` runs the command line."""

import sys

from nodegraph.cli import main

sys.exit(main())
