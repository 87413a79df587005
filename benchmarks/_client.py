"""``python benchmarks/_client.py MARKFILE ARGS...``: run ``mpremote ARGS`` and write to
MARKFILE the CPU seconds this process had used when its first HTTP request left: the
start-up cost (interpreter, imports of the CLI, pypsrp and requests, option parsing,
targets, credentials). Used by bench.py only. With worker processes the parent sends no
request: the mark is then the parent's CPU when it forked its first worker (everything
before the fan-out), not a worker's CPU at its first request (which left the parent's
start-up out)."""

import os
import resource
import runpy
import sys

mark = sys.argv[1]
sys.argv = ["mpremote", *sys.argv[2:]]

import requests.adapters  # noqa: E402 - the CLI imports it before its first request anyway

_real_send = requests.adapters.HTTPAdapter.send


def _note_cpu() -> None:
    """Write this process's CPU seconds to MARK, unless a mark is there already."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(repr(usage.ru_utime + usage.ru_stime))


def _first_send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _note_cpu()
    requests.adapters.HTTPAdapter.send = _real_send
    return _real_send(self, *args, **kwargs)


_real_fork = os.fork


def _first_fork() -> int:
    _note_cpu()  # in the parent, before its first worker exists
    os.fork = _real_fork
    return _real_fork()


requests.adapters.HTTPAdapter.send = _first_send
os.fork = _first_fork
runpy.run_module("mpremote", run_name="__main__", alter_sys=True)
