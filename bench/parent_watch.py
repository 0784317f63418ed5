"""A sweep's Python child stops when the sweep is gone (the Deno side is lib/parent_watch.ts).

exp:parity starts bench/torch_parity.py with ECHOLAB_PARENT_PID set to its own pid and
stdin a pipe it never writes to. exit_when_parent_dies() then reads stdin until EOF in a
daemon thread: EOF means the sweep is gone (killed with SIGKILL, crashed), and the child
exits with code 143 after one line on stderr, instead of training on as an orphan.
Without ECHOLAB_PARENT_PID (an interactive run) it does nothing.
"""
import os
import sys
import threading

ENV = "ECHOLAB_PARENT_PID"


def _stop(parent, why):
    try:
        print(f"error: the sweep that started this run (pid {parent}) is gone ({why}); stopping",
              file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # its stderr went with it
    os._exit(143)


def _watch(parent):
    try:
        while os.read(0, 256):
            pass  # the sweep never writes; keep reading to EOF
    except OSError:
        return  # an unreadable stdin says nothing about the sweep
    _stop(parent, "stdin closed")


def exit_when_parent_dies():
    """In a sweep's child, exit 143 as soon as the sweep is gone; elsewhere do nothing."""
    raw = os.environ.get(ENV, "")
    if not raw.isdigit():
        return
    parent = int(raw)
    if os.getppid() != parent:
        _stop(parent, "parent pid changed")
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
