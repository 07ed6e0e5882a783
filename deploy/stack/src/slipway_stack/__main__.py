"""`python -m slipway_stack` is `slipway-stack`."""

import sys

from slipway_stack.cli import main

sys.exit(main())
