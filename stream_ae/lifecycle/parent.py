"""The retrain child's tie to the service that started it.

The service passes the child its settings as one line on the child's stdin and
keeps that pipe open while it lives. When the service dies, even by SIGKILL, the
kernel closes the pipe: the child reads EOF and ends at once, and a job whose
parent is gone never promotes. On Linux the child also asks for SIGKILL when its
parent dies (prctl PR_SET_PDEATHSIG), so a child stuck in native code ends too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
from typing import BinaryIO

from stream_ae.settings import Settings

log = logging.getLogger(__name__)

KEPT = 3
"""Exit status of a retrain child whose candidate was not promoted (0: promoted)."""
ORPHANED = 4
"""Exit status of a retrain child whose service went away."""
_PR_SET_PDEATHSIG = 1


class ParentWatch:
    """Reads the settings line from the parent, then watches the pipe for its EOF."""

    def __init__(self, pipe: BinaryIO | None = None) -> None:
        self._pipe = pipe if pipe is not None else sys.stdin.buffer
        self._gone = threading.Event()

    def settings(self) -> Settings:
        """The parent's settings; from then on the parent's death ends this process."""
        line = self._pipe.readline()
        _die_with_parent()
        threading.Thread(target=self._watch, name="parent-watch", daemon=True).start()
        return Settings.from_child_line(line.decode("utf-8"))

    def alive(self) -> bool:
        """False once the parent is gone: the caller must not promote."""
        return not self._gone.is_set()

    def _watch(self) -> None:
        # The file descriptor, not the buffered pipe: a daemon thread blocked inside a
        # buffered read makes the interpreter abort at a normal exit.
        fd = self._pipe.fileno()
        while os.read(fd, 4096):
            pass  # the parent writes nothing more: any read ends only at EOF
        self._gone.set()
        log.error("the service that started this retrain is gone; ending without promoting")
        logging.shutdown()
        os._exit(ORPHANED)  # from a thread: sys.exit would end only the thread


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return  # elsewhere the pipe's EOF alone ends the child
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d)", ctypes.get_errno())
