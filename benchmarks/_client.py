"""``python benchmarks/_client.py MARKFILE ARGS...``: run ``mpremote ARGS`` and write to
MARKFILE the CPU seconds this process had used when its first HTTP request left: the
start-up cost (interpreter, imports of the CLI, pypsrp and requests, option parsing,
targets, credentials). Used by bench.py only. With worker processes it is the CPU of the
worker that sent the first request (its parent's own start-up is not in it)."""

import os
import resource
import runpy
import sys

mark = sys.argv[1]
sys.argv = ["mpremote", *sys.argv[2:]]

import requests.adapters  # noqa: E402 - the CLI imports it before its first request anyway

_real_send = requests.adapters.HTTPAdapter.send


def _first_send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(repr(usage.ru_utime + usage.ru_stime))
    requests.adapters.HTTPAdapter.send = _real_send
    return _real_send(self, *args, **kwargs)


requests.adapters.HTTPAdapter.send = _first_send
runpy.run_module("mpremote", run_name="__main__", alter_sys=True)
