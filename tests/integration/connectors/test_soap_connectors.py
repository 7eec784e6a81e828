"""SOAP connectors against the spyne simulators: round trips, faults, timeouts, the circuit, GBK, WS-Security."""
from __future__ import annotations

import threading
import time
from datetime import date

import pytest

from connectors.errors import ConnectorError
from kernel.identifiers import make_resident_id, make_uscc
from simulators.enterprise import SEED_ENTERPRISES
from simulators.population import SEED_PEOPLE, table_name

HEAD = SEED_PEOPLE[0]  # 张伟, head of a three-person household
COMPANY = SEED_ENTERPRISES[0]


def _error(fn, *args, **kwargs) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kwargs)
    return err.value


# --------------------------------------------------------------------------- round trips
def test_verify_identity_round_trip(registry, sim):
    population = registry.get("population-registry")
    assert population.call("verify-identity", {"name": "张伟", "id_number": HEAD.idNumber}) == {"match": True, "reason": "ok"}
    assert population.call("verify-identity", {"name": "李四", "id_number": HEAD.idNumber}) == {"match": False, "reason": "name_mismatch"}
    other_province = make_resident_id("110101", date(1990, 1, 1), 11)
    assert population.call("verify-identity", {"name": "李四", "id_number": other_province})["reason"] == "not_registered"
    assert sim.calls("population", "VerifyIdentity") == 3  # one served call per call: no hidden retries


def test_people_added_through_the_admin_endpoint_and_the_name_table_verify(registry, sim):
    population = registry.get("population-registry")
    newcomer = make_resident_id("340102", date(2001, 2, 3), 555)
    assert population.call("verify-identity", {"name": table_name(newcomer), "id_number": newcomer})["match"] is True
    sim.admin("/population/_admin/people", {"name": "欧阳娜娜", "idNumber": newcomer})
    assert population.call("verify-identity", {"name": "欧阳娜娜", "id_number": newcomer})["match"] is True


def test_get_household_maps_members(registry):
    household = registry.get("population-registry").call("get-household", {"id_number": HEAD.idNumber})
    assert household["household_id"] == HEAD.householdId and household["head_name"] == "张伟"
    assert [m["name"] for m in household["members"]] == ["张伟", "李娜", "张子涵"]
    assert household["members"][1] == {"name": "李娜", "id_number": SEED_PEOPLE[1].idNumber, "gender": "女",
                                       "birth_date": "1987-07-08", "relation": "配偶"}


def test_enterprise_registry_round_trip(registry):
    enterprise = registry.get("enterprise-registry")
    assert enterprise.call("verify-enterprise", {"uscc": COMPANY.uscc, "legal_representative": "张伟"})["match"] is True
    deregistered = SEED_ENTERPRISES[2]
    assert enterprise.call("verify-enterprise", {"uscc": deregistered.uscc, "legal_representative": "陈强"}) == \
        {"match": False, "reason": "not_active"}
    registration = enterprise.call("get-registration", {"uscc": COMPANY.uscc})
    assert registration == {"uscc": COMPANY.uscc, "name": "合肥示例科技有限公司", "legal_representative": "张伟",
                            "registered_capital_fen": 100_000_000, "status": "存续", "address": COMPANY.address}


# --------------------------------------------------------------------------- faults and bad input
def test_simulated_fault_maps_to_fault(registry, sim):
    sim.control("population", mode="fault", fault_code="Server.DatabaseDown", fault_string="数据库维护中")
    error = _error(registry.get("population-registry").call, "verify-identity", {"name": "张伟", "id_number": HEAD.idNumber})
    assert error.code == "fault" and not error.transient and error.http_status == 502
    assert error.details == {"fault_code": "Server.DatabaseDown", "fault_string": "数据库维护中"}
    assert "数据库维护中" in error.message


def test_declared_fault_codes_map_to_our_codes_and_identifiers_stay_masked(registry):
    unknown = make_resident_id("110101", date(1990, 1, 1), 11)
    error = _error(registry.get("population-registry").call, "get-household", {"id_number": unknown})
    assert error.code == "not_found" and error.details["fault_code"] == "Client.NotFound"
    assert unknown not in error.message and unknown not in str(error.details)
    error = _error(registry.get("enterprise-registry").call, "get-registration", {"uscc": "91340100MA2N0001XX"})
    assert error.code == "invalid_request"


def test_payload_problems_are_invalid_requests_before_any_call(registry, sim):
    population = registry.get("population-registry")
    assert _error(population.call, "verify-identity", {"name": "张伟"}).code == "invalid_request"  # WSDL: idNumber required
    assert _error(population.call, "verify-identity", {"name": "张伟", "id_number": HEAD.idNumber, "x": 1}).code == "invalid_request"
    assert sim.calls("population", "VerifyIdentity") == 0


# --------------------------------------------------------------------------- timeouts and failures
def test_slow_system_hits_the_call_timeout(registry, sim):
    population = registry.get("population-registry")
    population.call("verify-identity", {"name": "张伟", "id_number": HEAD.idNumber})  # WSDL loaded while fast
    sim.control("population", mode="slow", delay_seconds=2)
    started = time.monotonic()
    error = _error(population.call, "verify-identity", {"name": "张伟", "id_number": HEAD.idNumber}, timeout=0.4)
    assert error.code == "timeout" and error.transient and error.http_status == 504
    assert time.monotonic() - started < 1.5


def test_declared_timeout_applies_without_a_call_timeout(declare, sim):
    registry = declare(shipped={"population-registry": {"timeout_seconds": 0.4}})
    sim.control("population", mode="slow", delay_seconds=2)
    started = time.monotonic()
    assert _error(registry.get("population-registry").call, "verify-identity",
                  {"name": "张伟", "id_number": HEAD.idNumber}).code == "timeout"
    assert time.monotonic() - started < 1.5


def test_concurrent_calls_keep_their_own_timeouts(registry, sim):
    population = registry.get("population-registry")
    population.call("verify-identity", {"name": "张伟", "id_number": HEAD.idNumber})
    sim.control("population", mode="slow", delay_seconds=0.8)
    results = {}

    def call(name, timeout):
        try:
            results[name] = population.call("verify-identity", {"name": "张伟", "id_number": HEAD.idNumber}, timeout=timeout)
        except ConnectorError as exc:
            results[name] = exc.code

    threads = [threading.Thread(target=call, args=("short", 0.3)), threading.Thread(target=call, args=("long", 5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"short": "timeout", "long": {"match": True, "reason": "ok"}}


@pytest.mark.parametrize("mode", ["fail", "drop"])
def test_failing_system_is_unavailable_then_the_circuit_opens_and_recovers(declare, sim, mode):
    registry = declare(shipped={"population-registry": {"circuit_breaker": {"failure_threshold": 3, "reset_timeout_seconds": 1}}})
    population = registry.get("population-registry")
    payload = {"name": "张伟", "id_number": HEAD.idNumber}
    population.call("verify-identity", payload)
    sim.control("population", mode=mode)
    for _ in range(3):
        error = _error(population.call, "verify-identity", payload)
        assert error.code == "unavailable" and error.transient and error.http_status == 503
    assert population.circuit.state == "open"
    reached = sum(sim.state("population")["injected"].values())

    started = time.monotonic()
    error = _error(population.call, "verify-identity", payload)
    assert error.code == "circuit_open" and error.transient and error.details["retry_after_seconds"] > 0
    assert time.monotonic() - started < 0.05
    assert sum(sim.state("population")["injected"].values()) == reached  # failed fast: no request was sent

    sim.control("population", mode="normal")
    time.sleep(1.05)
    assert population.call("verify-identity", payload) == {"match": True, "reason": "ok"}
    assert population.circuit.state == "closed"


def test_a_dead_host_is_unavailable(declare, sim):
    registry = declare(shipped={"population-registry": {"wsdl": "http://127.0.0.1:9/population/soap?wsdl"}})
    error = _error(registry.get("population-registry").call, "verify-identity", {"name": "a", "id_number": HEAD.idNumber})
    assert error.code == "unavailable" and error.transient


# --------------------------------------------------------------------------- GBK / GB18030
@pytest.mark.parametrize("settings", [
    {"encoding": "GBK"},  # declaration and header
    {"encoding": "GBK", "charset_header": False},  # declaration only
    {"encoding": "GB18030", "declare_encoding": False},  # HTTP header only
])
def test_gbk_answers_decode_chinese_names(registry, sim, settings):
    population = registry.get("population-registry")
    population.call("verify-identity", {"name": "张伟", "id_number": HEAD.idNumber})
    sim.control("population", **settings)
    household = population.call("get-household", {"id_number": HEAD.idNumber})
    assert [m["name"] for m in household["members"]] == ["张伟", "李娜", "张子涵"]
    assert household["address"] == "安徽省合肥市蜀山区长江西路100号"
    sim.control("enterprise", **settings)
    assert registry.get("enterprise-registry").call("get-registration", {"uscc": COMPANY.uscc})["name"] == "合肥示例科技有限公司"


def test_gbk_fault_strings_decode(registry, sim):
    population = registry.get("population-registry")
    population.call("verify-identity", {"name": "张伟", "id_number": HEAD.idNumber})
    sim.control("population", mode="fault", encoding="GBK", fault_string="系统繁忙")
    assert _error(population.call, "verify-identity", {"name": "张伟", "id_number": HEAD.idNumber}).details["fault_string"] == "系统繁忙"


# --------------------------------------------------------------------------- WS-Security
def test_username_token_is_sent_when_declared(declare, registry, sim):
    sim.control("population", require_wsse={"username": "govlink", "password": "口令-2026"})
    wsse = {"auth": {"type": "wsse_username_token", "username": "govlink", "password_env": "POPULATION_PASSWORD"}}
    secured = declare(shipped={"population-registry": wsse}, env={"POPULATION_PASSWORD": "口令-2026"})
    payload = {"name": "张伟", "id_number": HEAD.idNumber}
    assert secured.get("population-registry").call("verify-identity", payload)["match"] is True

    error = _error(registry.get("population-registry").call, "verify-identity", payload)  # shipped: no auth
    assert error.code == "rejected" and error.details["fault_code"] == "FailedAuthentication" and not error.transient
    wrong = declare(shipped={"population-registry": wsse}, env={"POPULATION_PASSWORD": "wrong"})
    assert _error(wrong.get("population-registry").call, "verify-identity", payload).code == "rejected"
    assert "口令" not in error.message
    assert sim.calls("population", "VerifyIdentity") == 1


def test_operation_missing_from_the_wsdl_is_a_configuration_error(declare, sim):
    registry = declare(shipped={"enterprise-registry": {"operations": {"verify-enterprise": {"operation": "VerifyCompany"}}}})
    error = _error(registry.get("enterprise-registry").call, "verify-enterprise", {})
    assert error.code == "misconfigured" and "VerifyCompany" in error.message


def test_added_enterprise_is_found(registry, sim):
    uscc = make_uscc(org_body="MA2N0999")
    sim.admin("/enterprise/_admin/enterprises", {"uscc": uscc, "name": "合肥新公司", "legalRepresentative": "刘洋",
                                                 "registeredCapital": 12345})
    assert registry.get("enterprise-registry").call("get-registration", {"uscc": uscc})["registered_capital_fen"] == 12345
