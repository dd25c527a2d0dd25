"""`python -m voice_agent` runs the CLI."""

import sys

from .cli import main

sys.exit(main())
