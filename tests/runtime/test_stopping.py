"""A signal before the event loop exits with code 0 whatever code it lands in.

Raising from the handler is not enough: code that catches BaseException (as torch's
C++ bindings do while a module imports) turns the raise into an abort or swallows
it, and the process either dies with SIGABRT or keeps running."""

import subprocess
import sys
import textwrap

SWALLOWING = textwrap.dedent(
    """
    import logging, os, signal, sys, time
    from stream_ae.runtime.stopping import exit_on_signals

    logging.basicConfig(level=logging.INFO)
    exit_on_signals()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except BaseException:
        pass  # what a library binding does with an exception it cannot pass on
    print("still running", flush=True)
    sys.exit(3)
    """
)


def test_a_signal_exits_even_where_the_running_code_catches_everything() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SWALLOWING], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "still running" not in done.stdout
    assert "SIGTERM before the detector started: exiting" in done.stderr
