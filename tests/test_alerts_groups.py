"""Spikes of an intent split over sibling themes: the parent group raises the alert."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from rootline.clustering.alerts import ThemeVolume, find_alerts, group_volumes

AS_OF = date(2026, 11, 30)
FIRST = AS_OF - timedelta(days=200)


def _steady(tid: int, per_week: int) -> ThemeVolume:
    """Exactly ``per_week`` contacts every week, spread over its days."""
    daily = np.zeros(84, dtype=np.int64)
    for week in range(12):
        for i in range(per_week):
            daily[7 * week + i % 7] += 1
    return ThemeVolume(tid, f"t{tid}", "active", daily, FIRST)


def _rising(tid: int, per_week: int, last_week: int) -> ThemeVolume:
    vol = _steady(tid, per_week)
    daily = vol.daily.copy()
    daily[-7:] = 0
    for i in range(last_week):
        daily[-7 + i % 7] += 1
    return ThemeVolume(tid, vol.title, vol.status, daily, FIRST)


def _desk() -> list[ThemeVolume]:
    # Three siblings (ids 1-3) of one intent each go from 4 to 10 a week: each alone is too
    # small a count to clear Holm over 20 themes; together they go from 12 to 30.
    siblings = [_rising(tid, 4, 10) for tid in (1, 2, 3)]
    return siblings + [_steady(tid, 6 + tid % 5) for tid in range(4, 21)]


def test_no_sibling_fires_alone() -> None:
    assert [a for a in find_alerts(_desk(), AS_OF) if a.kind != "new"] == []


def test_the_parent_group_of_split_siblings_is_the_alert() -> None:
    groups = {tid: (0 if tid <= 3 else tid) for tid in range(1, 21)}
    alerts = find_alerts(_desk(), AS_OF, groups=groups)
    assert len(alerts) == 1
    (alert,) = alerts
    assert alert.kind == "group" and alert.members == (1, 2, 3)
    assert alert.theme_id in (1, 2, 3) and "and 2 related themes" in alert.title
    assert alert.recent_count >= 30 and alert.ratio is not None and alert.ratio >= 2
    # The group was tested in the same family as the themes: 20 themes + 1 group, 3 windows.
    assert alert.tests == 21 * 3


def test_a_group_whose_member_fires_alone_adds_no_second_alert() -> None:
    desk = _desk()
    desk[0] = _rising(1, 4, 40)  # one sibling spikes by itself
    groups = {tid: (0 if tid <= 3 else tid) for tid in range(1, 21)}
    alerts = [a for a in find_alerts(desk, AS_OF, groups=groups) if a.kind != "new"]
    assert [(a.theme_id, a.kind) for a in alerts] == [(1, "spike")]


def test_group_volumes_sum_members_and_skip_lone_groups() -> None:
    vols = [_steady(1, 3), _steady(2, 5), _steady(3, 7)]
    out = group_volumes(vols, {1: 9, 2: 9, 3: 4})
    assert len(out) == 1
    summed, members = out[0]
    assert members == (1, 2)
    assert summed.theme_id == 2  # the member with more contacts last week leads
    assert int(summed.daily.sum()) == 12 * (3 + 5)
