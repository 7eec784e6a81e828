"""The REST connector against the e-licence simulator: list, fetch, 404/400 mapping, failures, GBK."""
from __future__ import annotations

import pytest

from connectors.errors import ConnectorError
from simulators.enterprise import SEED_ENTERPRISES
from simulators.population import SEED_PEOPLE

HEAD = SEED_PEOPLE[0]


def _error(fn, *args, **kwargs) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kwargs)
    return err.value


def test_list_licences_of_a_holder(registry, sim):
    answer = registry.get("e-licence").call("list-licences", {"holder_id": HEAD.idNumber})
    assert answer["holder_id"] == HEAD.idNumber and answer["total"] == 2
    assert {lic["licence_name"] for lic in answer["licences"]} == {"居民户口簿", "机动车驾驶证"}
    assert all(lic["holder_name"] == "张伟" for lic in answer["licences"])
    assert sim.calls("e-licence", "ListLicences") == 1


def test_fetch_one_licence(registry):
    licence = registry.get("e-licence").call("get-licence", {"licence_id": "DZZZ-340100-2023-000001"})
    assert licence["licence_name"] == "营业执照" and licence["holder_id"] == SEED_ENTERPRISES[0].uscc
    assert licence["valid_until"] is None


def test_unknown_licence_is_not_found(registry):
    error = _error(registry.get("e-licence").call, "get-licence", {"licence_id": "DZZZ-NONE"})
    assert error.code == "not_found" and not error.transient and error.details["status"] == 404


def test_missing_fields_are_invalid_requests(registry, sim):
    e_licence = registry.get("e-licence")
    assert _error(e_licence.call, "get-licence", {}).code == "invalid_request"  # path field missing: no call made
    assert _error(e_licence.call, "get-licence", {"licence_id": "x", "extra": 1}).code == "invalid_request"
    assert sim.calls("e-licence", "GetLicence") == 0
    error = _error(e_licence.call, "list-licences", {})  # the department answers 400
    assert error.code == "invalid_request" and error.details["status"] == 400 and "holder_id" in error.message


@pytest.mark.parametrize("mode, code", [("fail", "unavailable"), ("drop", "unavailable"), ("fault", "invalid_request")])
def test_failures_map_to_codes(registry, sim, mode, code):
    sim.control("e-licence", mode=mode)
    error = _error(registry.get("e-licence").call, "list-licences", {"holder_id": HEAD.idNumber})
    assert error.code == code and error.transient == (code == "unavailable")


def test_slow_rest_call_times_out(registry, sim):
    sim.control("e-licence", mode="slow", delay_seconds=2)
    assert _error(registry.get("e-licence").call, "list-licences", {"holder_id": HEAD.idNumber}, timeout=0.3).code == "timeout"


@pytest.mark.parametrize("encoding", ["GBK", "GB18030"])
def test_gbk_json_bodies_decode(registry, sim, encoding):
    sim.control("e-licence", encoding=encoding)
    answer = registry.get("e-licence").call("list-licences", {"holder_id": HEAD.idNumber})
    assert {lic["issuer"] for lic in answer["licences"]} == {"合肥市公安局蜀山分局", "合肥市公安局交通警察支队"}
