"""`python -m ruleatlas.cli`: the `ruleatlas` command."""

import sys

from ruleatlas.cli import main

sys.exit(main())
