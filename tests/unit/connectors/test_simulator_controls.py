"""Pieces of the simulators that tests elsewhere rely on: controls, the name table, UsernameToken checks."""
from datetime import date

import pytest
from zeep.wsse.username import UsernameToken
from lxml import etree

from kernel.identifiers import make_resident_id
from simulators.control import ControlState, recode
from simulators.population import PopulationData, table_name
from simulators.soap import SOAP_ENV, check_username_token

ENVELOPE = f'<e:Envelope xmlns:e="{SOAP_ENV}"><e:Header/><e:Body><x/></e:Body></e:Envelope>'


def _signed(username, password, digest=False):
    envelope = etree.fromstring(ENVELOPE)
    UsernameToken(username, password, use_digest=digest).apply(envelope, {})
    return etree.tostring(envelope)


@pytest.mark.parametrize("digest", [False, True])
def test_username_token_check(digest):
    assert check_username_token(_signed("govlink", "口令-1", digest), "govlink", "口令-1") is None
    assert check_username_token(_signed("govlink", "wrong", digest), "govlink", "口令-1")
    assert check_username_token(ENVELOPE.encode(), "govlink", "x") == "no UsernameToken"
    assert check_username_token(b"<!DOCTYPE x [<!ENTITY e 'x'>]><x>&e;</x>", "u", "p")


def test_control_state_validates_and_counts():
    state = ControlState()
    with pytest.raises(ValueError):
        state.update({"mode": "explode"})
    with pytest.raises(ValueError):
        state.update({"require_wsse": {"username": "u"}})
    state.update({"mode": "slow", "delay_seconds": 1, "encoding": "gbk", "require_wsse": {"username": "u", "password": "p"}})
    state.served("VerifyIdentity")
    snap = state.snapshot()
    assert snap["encoding"] == "GBK" and snap["calls"] == {"VerifyIdentity": 1}
    assert snap["require_wsse"] == {"username": "u"}  # never the password
    state.reset()
    assert state.snapshot()["mode"] == "normal" and state.snapshot()["calls"] == {}


def test_a_request_held_across_a_reset_is_not_counted_for_the_next_test():
    """A `slow` request of an earlier test that reaches the business logic after the counters were
    zeroed would read as a second call in the next test (a doubled effect that is not one)."""
    state = ControlState()
    state.arrived()
    state.reset()
    state.served("VerifyIdentity")
    assert state.snapshot()["calls"] == {}
    state.arrived()
    state.served("VerifyIdentity")
    state.arrived()
    state.update({"reset_counters": True})
    state.served("VerifyIdentity")
    assert state.snapshot()["calls"] == {}
    state.arrived()
    state.served("VerifyIdentity")
    assert state.snapshot()["calls"] == {"VerifyIdentity": 1}


def test_recode_rewrites_declaration_and_header():
    headers = [("Content-Type", "text/xml; charset=utf-8")]
    body = "<?xml version='1.0' encoding='UTF-8'?><a>张三</a>".encode()
    new_headers, new_body = recode(headers, body, "GBK", True, False)
    assert new_headers == [("Content-Type", "text/xml")]
    assert new_body == '<?xml version="1.0" encoding="GBK"?>\n<a>张三</a>'.encode("gbk")


def test_name_table_people_verify_and_added_people_win():
    id_number = make_resident_id("340111", date(1990, 5, 6), 77)
    data = PopulationData()
    assert data.find(id_number).name == table_name(id_number)
    assert data.find(make_resident_id("110101", date(1990, 5, 6), 77)) is None  # not an Anhui number
    data.add("赵六", id_number)
    assert data.find(id_number).name == "赵六"
