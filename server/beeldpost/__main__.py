"""`python -m beeldpost`: the `beeldpost` command."""

import sys

from .cli import main

sys.exit(main())
