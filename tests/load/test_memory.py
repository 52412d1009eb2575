"""The load report's memory and CPU figures, read from /proc in one scan per sample."""

from __future__ import annotations

import os

from tests.load import memory


def test_a_sample_reads_each_service_group_and_nothing_for_a_gone_one():
    group = os.getpgid(0)
    sizes = memory.snapshot({"this": group, "gone": None})
    assert sizes["this"] > 1 and sizes["gone"] == 0
    assert memory.cpu({"this": group})["this"] > 0


def test_one_scan_finds_the_same_members_as_a_scan_per_group():
    group = os.getpgid(0)
    table = memory._processes()
    assert os.getpid() in memory._group_members(group, table)
    assert memory._group_members(group, table) == memory._group_members(group)
