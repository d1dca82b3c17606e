"""`python -m stream_ae ...`: the same commands as `stream-ae ...`."""

import sys

from stream_ae.cli.main import main

sys.exit(main())
