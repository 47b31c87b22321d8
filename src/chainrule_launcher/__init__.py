"""The ``chainrule`` executable: Ctrl-C at any moment, even while the library is still being
imported (NumPy takes a while), ends with one line and exit status 130, not a traceback."""

from __future__ import annotations

import signal
import sys


def main() -> int:
    """Run ``chainrule.cli.main``, importing it inside the handler for Ctrl-C."""
    try:
        from chainrule.cli import main as run

        return run()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we leave
        print("chainrule: interrupted", file=sys.stderr)
        return 130
