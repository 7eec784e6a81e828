"""The logistics bridge's decisions, without a database: quotes, legs, cancelling, postage, pickup, tracking."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from config.settings import Settings
from kernel.errors import Refused as KernelRefused
from logistics_bridge import domain
from logistics_bridge.address import validate_address
from logistics_bridge.domain import PostageStep
from logistics_bridge.errors import CarrierError, Refused
from logistics_bridge.profiles import load_profiles
from logistics_bridge.tracking import Status, TrackingEvent
from payment_bridge.api import OPEN_STATES, PAID_STATES
from tests.support.addresses import ADDRESS

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
RESIDENT = "11010519491231002X"
USCC = "91340100MA2MXXXX0A"


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(Settings())


def refusal(call, *args, **kwargs) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------------ refusals are the kernel's
def test_a_refusal_is_the_kernels_refused_with_status_and_details():
    exc = Refused(409, "leg_exists", "Case C already has a results leg.", {"leg_id": "L"})
    assert isinstance(exc, KernelRefused)
    assert (exc.status, exc.code, exc.message, exc.details) == (409, "leg_exists", "Case C already has a results "
                                                                "leg.", {"leg_id": "L"})
    assert Refused(422, "x", "y").details == {}


def test_a_carrier_error_carries_the_status_a_caller_should_see():
    assert CarrierError("http_503", "down", "sf", retryable=True).status == 503
    assert CarrierError("rejected", "no", "sf").status == 502


def test_a_carrier_not_answering_is_503_other_carrier_failures_502():
    down = domain.carrier_unavailable(CarrierError("http_503", "timed out", "sf", retryable=True))
    assert (down.status, down.code, down.message) == (503, "http_503", "The courier is not answering: timed out")
    bad = domain.carrier_unavailable(CarrierError("rejected", "no such bill", "ems", carrier_code="E1"))
    assert (bad.status, bad.code, bad.message) == (502, "rejected", "[rejected] ems: no such bill")


# ------------------------------------------------------------------ quote
def test_the_quote_uses_the_default_weight_and_the_carriers_tariff(profiles):
    assert domain.quote(profiles, "sf", None) == (500, profiles.quote("sf", 500))
    assert domain.quote(profiles, "ems", 2000) == (2000, profiles.quote("ems", 2000))


@pytest.mark.parametrize("weight", [-1, 30_001])
def test_a_weight_out_of_range_is_refused(profiles, weight):
    exc = refusal(domain.quote, profiles, "sf", weight)
    assert (exc.status, exc.code) == (422, "invalid_weight")


def test_an_unknown_carrier_is_refused_with_the_bookable_ones(profiles):
    exc = refusal(domain.quote, profiles, "dhl", 500)
    assert (exc.status, exc.code) == (422, "unknown_carrier") and "sf, ems" in exc.message


def test_the_carriers_and_weights_the_schema_offers_are_the_domains(profiles):
    assert set(profiles.bookable) <= set(domain.CARRIERS) == {"sf", "ems"}
    assert (domain.MIN_WEIGHT_G, domain.MAX_WEIGHT_G) == (1, 30_000)
    assert domain.LEG_KINDS == ("materials", "results")


# ------------------------------------------------------------------ which legs, whose
def test_a_leg_kind_must_go_by_courier_for_its_service(profiles):
    service = domain.service_for(profiles.services, "340100-GA-JSZ-01", "materials")
    assert service.code == "340100-GA-JSZ-01"
    exc = refusal(domain.service_for, profiles.services, "340100-GA-HZ-02", "materials")
    assert (exc.status, exc.code, exc.details) == (422, "leg_not_by_courier", {"courier_legs": ["results"]})
    assert refusal(domain.service_for, profiles.services, "NO-SUCH", "results").code == "unknown_service"
    assert refusal(domain.service_for, profiles.services, "340100-GA-JSZ-01", "both").code == "invalid_kind"


def test_the_applicant_key_is_a_resident_id_or_a_uscc():
    assert domain.applicant(RESIDENT) == (RESIDENT, "resident")
    exc = refusal(domain.applicant, "12345")
    assert (exc.status, exc.code) == (422, "invalid_applicant_key") and "rule" in exc.details


def test_materials_go_from_the_applicant_to_the_centre_and_results_back(profiles):
    address = validate_address(ADDRESS)
    assert domain.parties("materials", address, profiles.centre) == (address, profiles.centre)
    assert domain.parties("results", address, profiles.centre) == (profiles.centre, address)


# ------------------------------------------------------------------ booking
def test_only_a_leg_awaiting_payment_is_booked():
    assert domain.should_book("awaiting_payment")
    assert not any(domain.should_book(s) for s in ("booked", "booking_failed", "cancelled", "closed"))


def test_postage_that_books_a_leg_is_paid_but_never_paid_after_close():
    assert domain.BOOKABLE_POSTAGE == frozenset({"paid", "refund_pending", "partly_refunded", "refunded"})
    assert domain.BOOKABLE_POSTAGE < PAID_STATES and "paid_after_close" in PAID_STATES
    assert domain.postage_books_leg("paid") and not domain.postage_books_leg("paid_after_close")
    assert not domain.postage_books_leg(None) and not domain.postage_books_leg("registered")


def test_a_carrier_booking_error_is_retried_only_when_retryable():
    assert domain.booking_retry(CarrierError("http_503", "down", "sf", retryable=True))
    assert not domain.booking_retry(CarrierError("rejected", "bad address", "sf"))


# ------------------------------------------------------------------ cancelling
@pytest.mark.parametrize("state, tracking, step", [
    ("cancelled", "cancelled", domain.CancelStep.ALREADY),
    ("awaiting_payment", None, domain.CancelStep.LOCAL),
    ("booking_failed", None, domain.CancelStep.LOCAL),
    ("booked", "created", domain.CancelStep.AT_CARRIER),
])
def test_what_cancelling_a_leg_does(state, tracking, step):
    assert domain.cancel_step(state, tracking) is step


@pytest.mark.parametrize("state, tracking", [("booked", "picked_up"), ("closed", "delivered"), ("booked", "in_transit")])
def test_a_picked_up_parcel_cannot_be_cancelled(state, tracking):
    exc = refusal(domain.cancel_step, state, tracking)
    assert (exc.status, exc.code, exc.details) == (409, "already_picked_up", {"tracking_status": tracking})


def test_a_carrier_refusing_the_cancel_is_a_conflict_other_errors_a_bad_gateway():
    refused = domain.carrier_cancel_refused(CarrierError("cancel_refused", "picked up", "sf", carrier_code="8037"),
                                            "sf", "SF1")
    assert (refused.status, refused.code, refused.details) == (409, "carrier_cancel_refused", {"carrier_code": "8037"})
    assert "SF did not cancel waybill SF1" in refused.message
    other = domain.carrier_cancel_refused(CarrierError("http_500", "oops", "ems"), "ems", "E1")
    assert (other.status, other.code) == (502, "carrier_http_500")


# ------------------------------------------------------------------ postage of a cancelled leg
def test_refundable_postage_is_paid_in_full_and_not_refunded_yet():
    assert domain.REFUNDABLE_POSTAGE == ("paid", "paid_after_close")


@pytest.mark.parametrize("status", sorted(OPEN_STATES))
def test_open_postage_is_closed(status):
    assert domain.postage_step(status) is PostageStep.CLOSE


@pytest.mark.parametrize("status", ["paid", "paid_after_close"])
def test_paid_postage_is_refunded(status):
    assert domain.postage_step(status) is PostageStep.REFUND


def test_closed_postage_waits_for_a_late_payment():
    assert domain.postage_step("cancelled") is PostageStep.WAIT


@pytest.mark.parametrize("status", ["refund_pending", "partly_refunded", "refunded", "failed", None])
def test_postage_being_or_already_given_back_or_never_payable_is_settled(status):
    assert domain.postage_step(status) is PostageStep.DONE


def test_when_the_postage_of_a_cancelled_leg_is_looked_at_again():
    retry, watch = timedelta(seconds=120), timedelta(days=30)
    # settled: never again
    assert domain.next_postage_check(PostageStep.DONE, NOW, NOW, retry=retry, watch=watch) is None
    assert domain.next_postage_check(PostageStep.REFUND, NOW, NOW, retry=retry, watch=watch) is None
    # a close or a refund request the payment side did not take: after the retry delay
    assert domain.next_postage_check(PostageStep.CLOSE, NOW, NOW, retry=retry, watch=watch, failed=True) == NOW + retry
    assert domain.next_postage_check(PostageStep.REFUND, NOW, NOW, retry=retry, watch=watch, failed=True) \
        == NOW + retry
    # closed: a late payment may still come; looked at less and less often, at most daily, then no more
    assert domain.next_postage_check(PostageStep.WAIT, NOW, NOW, retry=retry, watch=watch) == NOW + retry
    later = NOW + timedelta(hours=1)
    assert domain.next_postage_check(PostageStep.WAIT, later, NOW, retry=retry, watch=watch) == later + timedelta(hours=1)
    days = NOW + timedelta(days=5)
    assert domain.next_postage_check(PostageStep.WAIT, days, NOW, retry=retry, watch=watch) == days + timedelta(days=1)
    assert domain.next_postage_check(PostageStep.WAIT, NOW + watch, NOW, retry=retry, watch=watch) is None


# ------------------------------------------------------------------ pickup code
def test_the_pickup_code_locks_after_the_allowed_wrong_tries():
    assert not domain.pickup_locked(4, limit=5)
    assert domain.pickup_locked(5, limit=5) and domain.pickup_locked(6, limit=5)
    exc = domain.pickup_lockout()
    assert (exc.status, exc.code) == (423, "pickup_code_locked")
    wrong = domain.wrong_pickup_code()
    assert (wrong.status, wrong.code, wrong.message) == (422, "wrong_pickup_code", "The pickup code does not match.")


# ------------------------------------------------------------------ tracking: what events do to a leg
def event(event_id, status, minutes=0, *, description="", signed=False, raw="r"):
    return TrackingEvent(carrier="sf", waybill="SF1", event_id=event_id, status=Status(status), raw_code=raw,
                         occurred_at=NOW + timedelta(minutes=minutes), description=description,
                         signed_by_other=signed)


def test_tracking_events_move_a_booked_leg_forward_and_close_it_on_delivery():
    fold = domain.fold_tracking("booked", None, [
        event("b", "in_transit", 10, raw="30"), event("a", "picked_up", 0, raw="50"),
        event("c", "delivered", 20, raw="80", description="签收人是：门卫")], recipient_name="王晓明")
    assert fold.status is Status.DELIVERED
    assert [(m.event.event_id, m.status, m.state) for m in fold.announced] == [
        ("a", "picked_up", "booked"), ("b", "in_transit", "booked"), ("c", "delivered", "closed")]
    assert fold.moved_ids == {"a", "b", "c"} and fold.closes and fold.signed_by_other
    assert [m.event.signed_by_other for m in fold.moves] == [False, False, True]  # re-judged: 门卫 signed
    assert fold.last_raw_code == "80"


def test_a_late_or_unknown_event_is_history_only():
    fold = domain.fold_tracking("booked", "in_transit", [event("x", "picked_up", 0), event("u", "unknown", 5)])
    assert fold.status is Status.IN_TRANSIT and fold.moves == [] and fold.moved_ids == set()
    assert fold.last_raw_code is None and not fold.closes


def test_a_final_status_on_a_leg_not_booked_does_not_close_it():
    fold = domain.fold_tracking("cancelled", "created", [event("c", "cancelled", 0)])
    assert fold.status is Status.CANCELLED and not fold.closes
    assert [(m.status, m.state) for m in fold.announced] == [("cancelled", "cancelled")]


def test_a_lateral_move_to_the_same_status_moves_without_announcing_again():
    fold = domain.fold_tracking("booked", "out_for_delivery", [event("o", "out_for_delivery", 0, raw="44")])
    assert fold.moved_ids == {"o"} and fold.announced == [] and fold.last_raw_code == "44"


def test_the_dedup_key_is_per_source_and_event_id():
    assert domain.dedup_key(event("abc", "picked_up")) == "sf:abc"
    assert len(domain.dedup_key(event("x" * 200, "picked_up"))) == 80


# ------------------------------------------------------------------ subscriptions
def test_a_booked_leg_of_a_kuaidi100_carrier_needs_a_subscription():
    assert domain.needs_subscription("booked", "ems", ("ems",))
    assert not domain.needs_subscription("booked", "sf", ("ems",))
    assert not domain.needs_subscription("closed", "ems", ("ems",))


def test_the_watch_of_a_closed_postage_ends_only_when_next_postage_check_stops_watching_it():
    retry, watch = timedelta(seconds=120), timedelta(days=30)
    for step in PostageStep:
        for now in (NOW, NOW + watch - timedelta(seconds=1), NOW + watch, NOW + watch * 2):
            for failed in (False, True):
                ended = domain.postage_watch_ended(step, now, NOW, watch=watch, failed=failed)
                stops = domain.next_postage_check(step, now, NOW, retry=retry, watch=watch, failed=failed) is None
                assert ended == (step is PostageStep.WAIT and stops), (step, now, failed)
    assert domain.postage_watch_ended(PostageStep.WAIT, NOW + watch, NOW, watch=watch)
