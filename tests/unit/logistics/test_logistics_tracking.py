"""Normalised tracking: forward-only status, dedupe, ordering, signed-by-other flag."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logistics_bridge.errors import IllegalStatus
from logistics_bridge.tracking import (
    FINAL,
    RANK,
    Status,
    TrackingEvent,
    apply_events,
    can_move,
    is_signed_by_other,
    require_move,
)

T0 = datetime(2024, 3, 15, 1, 0, tzinfo=timezone.utc)


def ev(event_id, status, minutes=0, description="", signed=False):
    return TrackingEvent(
        carrier="sf",
        waybill="SF1234567890123",
        event_id=event_id,
        status=Status(status),
        raw_code="x",
        occurred_at=T0 + timedelta(minutes=minutes),
        description=description,
        signed_by_other=signed,
    )


def test_status_set_is_the_domain_one():
    assert {s.value for s in Status} == {
        "created", "picked_up", "in_transit", "out_for_delivery", "ready_for_pickup", "delivered",
        "delivery_failed", "refused", "return_to_sender", "cancelled", "unknown",
    }
    assert FINAL == {Status.DELIVERED, Status.CANCELLED, Status.RETURN_TO_SENDER}


def test_events_are_sorted_by_time_before_applying():
    events = [ev("c", "delivered", 30), ev("a", "picked_up", 0), ev("b", "in_transit", 10)]
    status, accepted = apply_events("created", events)
    assert status is Status.DELIVERED
    assert [e.event_id for e in accepted] == ["a", "b", "c"]


def test_duplicates_in_batch_and_already_seen_are_dropped():
    events = [ev("a", "picked_up", 0), ev("a", "picked_up", 0), ev("b", "in_transit", 5)]
    status, accepted = apply_events("created", events, seen_ids={"b"})
    assert status is Status.PICKED_UP
    assert [e.event_id for e in accepted] == ["a"]


def test_backward_moves_are_ignored():
    status, accepted = apply_events("out_for_delivery", [ev("late", "in_transit", 0)])
    assert status is Status.OUT_FOR_DELIVERY
    assert accepted == []


def test_last_mile_moves_are_lateral():
    events = [ev("1", "out_for_delivery", 0), ev("2", "delivery_failed", 60), ev("3", "out_for_delivery", 600)]
    status, accepted = apply_events("in_transit", events)
    assert status is Status.OUT_FOR_DELIVERY
    assert len(accepted) == 3


def test_nothing_after_a_final_state():
    events = [ev("d", "delivered", 0), ev("r", "return_to_sender", 10)]
    status, accepted = apply_events("in_transit", events)
    assert status is Status.DELIVERED
    assert [e.event_id for e in accepted] == ["d"]
    status, accepted = apply_events("cancelled", [ev("p", "picked_up", 20)])
    assert status is Status.CANCELLED and accepted == []


def test_unknown_events_are_history_only():
    status, accepted = apply_events("in_transit", [ev("u", "unknown", 0)])
    assert status is Status.IN_TRANSIT
    assert [e.event_id for e in accepted] == ["u"]


def test_same_second_lower_rank_first():
    events = [ev("d", "delivered", 0), ev("o", "out_for_delivery", 0)]
    status, accepted = apply_events("in_transit", events)
    assert status is Status.DELIVERED
    assert [e.event_id for e in accepted] == ["o", "d"]


def test_event_time_must_be_aware_and_becomes_utc():
    beijing = timezone(timedelta(hours=8))
    event = ev("a", "picked_up")
    moved = TrackingEvent(**{**event.__dict__, "occurred_at": datetime(2024, 3, 15, 9, 0, tzinfo=beijing)})
    assert moved.occurred_at == T0 and moved.occurred_at.tzinfo is timezone.utc
    with pytest.raises(ValueError):
        TrackingEvent(**{**event.__dict__, "occurred_at": datetime(2024, 3, 15, 9, 0)})


def test_illegal_status_and_require_move():
    with pytest.raises(IllegalStatus):
        apply_events("lost", [])
    assert require_move("created", "cancelled") is Status.CANCELLED
    with pytest.raises(IllegalStatus):
        require_move("delivered", "cancelled")
    with pytest.raises(IllegalStatus):
        require_move("in_transit", "picked_up")
    assert not can_move("in_transit", "unknown")


@pytest.mark.parametrize(
    ("text", "recipient", "flag"),
    [
        ("已签收,签收人是: 代收点", None, True),
        ("快件已被他人代收", None, True),
        ("您的快件已代签收【家人，，】，如有疑问请电联快递员", None, True),
        ("快件已由丰巢智能柜签收", None, True),
        ("已签收，签收人是：门卫", None, True),
        ("非本人签收", None, True),
        ("已签收，本人签收", None, False),
        ("已签收,签收人是:本人", None, False),
        ("已签收,感谢使用顺丰,期待再次为您服务", None, False),
        ("已签收,签收人是:张三", None, False),  # cannot tell without the recipient's name
        ("已签收,签收人是:张三", "张三", False),
        ("已签收,签收人是:李四", "张三", True),
        ("", "张三", False),
    ],
)
def test_signed_by_other_rule(text, recipient, flag):
    assert is_signed_by_other(text, recipient) is flag


def test_apply_events_rejudges_signature_with_recipient_name():
    delivered = ev("d", "delivered", 0, description="已签收,签收人是:李四")
    _, accepted = apply_events("out_for_delivery", [delivered])
    assert accepted[0].signed_by_other is False
    _, accepted = apply_events("out_for_delivery", [delivered], recipient_name="张三")
    assert accepted[0].signed_by_other is True
    _, accepted = apply_events("out_for_delivery", [delivered], recipient_name="李四")
    assert accepted[0].signed_by_other is False


statuses = st.sampled_from(list(Status))
events_strategy = st.lists(
    st.tuples(st.sampled_from("abcdefghij"), statuses, st.integers(0, 500)), max_size=30
).map(lambda rows: [ev(eid, status, minutes) for eid, status, minutes in rows])
start_statuses = st.sampled_from([s for s in Status if s is not Status.UNKNOWN])


def _rank(status):
    return RANK.get(status, -1)


@given(start_statuses, events_strategy)
def test_status_never_moves_backward_nor_leaves_a_final_state(start, events):
    status, accepted = apply_events(start, events)
    assert _rank(status) >= _rank(start)
    if start in FINAL:
        assert status is start and accepted == []
    # Replaying the accepted events step by step tells the same story.
    current = start
    for index, event in enumerate(accepted):
        assert current not in FINAL
        if event.status is not Status.UNKNOWN:
            assert _rank(event.status) >= _rank(current)
            current = event.status
        if current in FINAL:
            assert index == len(accepted) - 1
    assert current is status
    times = [e.occurred_at for e in accepted]
    assert times == sorted(times)
    assert len({e.event_id for e in accepted}) == len(accepted)


@given(start_statuses, events_strategy)
def test_applying_again_with_seen_ids_changes_nothing(start, events):
    status, accepted = apply_events(start, events)
    again, more = apply_events(status, events, seen_ids={e.event_id for e in accepted})
    assert again is status
    assert more == []
