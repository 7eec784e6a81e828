"""Gap 4: a department whose service answers SOAP faults still publishes its WSDL. The demo seed's
parked call is the enterprise registry's first call of the day: the worker has not read the WSDL yet,
and the simulator in `fault` mode answered the WSDL's GET with a fault too, so the call was parked
for a WSDL that could not be read instead of for the department's fault that an operator would see."""
from __future__ import annotations

import pytest

from connectors.errors import ConnectorError
from connectors.soap import forget_documents
from simulators.enterprise import SEED_ENTERPRISES

FAULT = ("Server.RegistryMaintenance", "企业登记数据库维护中，暂停查询")


def test_the_first_call_to_a_faulting_department_gets_its_fault(registry, sim):
    forget_documents()  # this process has not read the department's WSDL yet, as a fresh worker
    sim.control("enterprise", mode="fault", fault_code=FAULT[0], fault_string=FAULT[1])
    with pytest.raises(ConnectorError) as err:
        registry.get("enterprise-registry").call("get-registration", {"uscc": SEED_ENTERPRISES[0].uscc})
    error = err.value
    assert (error.code, error.details.get("fault_code")) == ("fault", FAULT[0]), (error.code, error.message)
    assert FAULT[1] in error.message
