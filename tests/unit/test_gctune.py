"""The collector is relaxed for a run and put back afterwards, whatever happens."""

from __future__ import annotations

import gc

import pytest

from mpremote.fanout import Deadline, run_hosts
from mpremote.fanout.gctune import RUN_THRESHOLD, relaxed_gc
from mpremote.hosts import Host
from mpremote.results import HostResult, HostStatus


def _hosts(n: int) -> list[Host]:
    return [Host(name=f"h{i}", address="127.0.0.1") for i in range(n)]


def test_a_run_relaxes_the_collector_and_restores_it() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    def job(host: Host, deadline: Deadline) -> HostResult:
        seen.append(gc.get_threshold())
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    out = run_hosts(_hosts(3), job, concurrency=2)
    assert [r.status for r in out.results] == [HostStatus.OK] * 3
    assert seen and all(t[0] == max(RUN_THRESHOLD, before[0]) and t[1:] == before[1:] for t in seen)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_restored_after_an_exception_and_nested_blocks_share_one_setting() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), relaxed_gc():
        with relaxed_gc():
            assert gc.get_threshold()[0] == max(RUN_THRESHOLD, before[0])
        assert gc.get_threshold()[0] == max(RUN_THRESHOLD, before[0])  # outer block still relaxed
        raise RuntimeError("boom")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_disabled_collector_is_left_alone() -> None:
    gc.disable()
    try:
        before = gc.get_threshold()
        with relaxed_gc():
            assert gc.get_threshold() == before and not gc.isenabled()
    finally:
        gc.enable()
