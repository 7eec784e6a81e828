"""Stand-in for the enterprise registry (市场监管企业库), SOAP 1.1 via spyne, mounted at `/enterprise`.

Operations (WSDL at `/enterprise/soap?wsdl`):
- `VerifyEnterprise(uscc, legalRepresentative?, legalRepresentativeIdNumber?) -> {match, reason}`; reason is
  `ok`, `legal_representative_mismatch`, `not_active` (status is not 存续), `not_registered`, `invalid_uscc` or
  `invalid_request` (neither given). With `legalRepresentativeIdNumber` the representative is matched by
  resident ID number (the name is then not compared: names are neither unique nor, for an account, fixed);
  without it, by name (the registry's older form, which govlink no longer uses).
- `GetRegistration(uscc) -> {uscc, name, legalRepresentative, registeredCapital (fen), status, address}`;
  faults `Client.NotFound` / `Client.InvalidUscc`.

Registered: `SEED_ENTERPRISES` (their representatives are people of the population simulator's
`SEED_PEOPLE`), plus any added with `POST /enterprise/_admin/enterprises {"uscc", "name",
"legalRepresentative", "legalRepresentativeIdNumber"?, "registeredCapital"?, "status"?, "address"?}`
(201 new, 200 replaced).
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from datetime import date

from flask import jsonify, request
from spyne import Boolean, ComplexModel, Long, ServiceBase, Unicode, rpc
from spyne.model.fault import Fault

from kernel.identifiers import InvalidIdentifier, make_resident_id, make_uscc, mask, validate_resident_id, validate_uscc
from simulators.control import ControlState, system_app
from simulators.soap import soap_system

NS = "http://enterprise.gov.hefei.cn/registry"
ACTIVE = "存续"  # other statuses: 注销 (deregistered), 吊销 (licence revoked)


@dataclass
class Enterprise:
    uscc: str
    name: str
    legalRepresentative: str
    registeredCapital: int  # fen (分)
    status: str
    address: str
    legalRepresentativeIdNumber: str | None = None  # 法定代表人身份证号码


# The representatives' ID numbers: 张伟 and 王芳 of simulators.population.SEED_PEOPLE, and a 陈强.
SEED_ENTERPRISES: list[Enterprise] = [
    Enterprise(make_uscc(org_body="MA2N0001"), "合肥示例科技有限公司", "张伟", 100_000_000, ACTIVE, "安徽省合肥市高新区望江西路800号",
               make_resident_id("340104", date(1985, 3, 12), 131)),
    Enterprise(make_uscc(org_body="MA2N0002"), "合肥庐州餐饮管理有限公司", "王芳", 5_000_000, ACTIVE, "安徽省合肥市庐阳区淮河路50号",
               make_resident_id("340103", date(1992, 11, 23), 406)),
    Enterprise(make_uscc(org_body="MA2N0003"), "合肥旧城贸易有限公司", "陈强", 2_000_000, "注销", "安徽省合肥市瑶海区长江东路1号",
               make_resident_id("340102", date(1970, 5, 5), 517)),
]


class EnterpriseData:
    """Registered enterprises by USCC; thread-safe."""

    def __init__(self, enterprises: list[Enterprise] | None = None):
        self._lock = threading.Lock()
        self._by_uscc = {e.uscc: Enterprise(**asdict(e)) for e in (SEED_ENTERPRISES if enterprises is None else enterprises)}

    def add(self, enterprise: Enterprise) -> bool:
        """Register or replace; returns True when it is new."""
        enterprise.uscc = validate_uscc(enterprise.uscc)
        if enterprise.legalRepresentativeIdNumber is not None:
            enterprise.legalRepresentativeIdNumber = validate_resident_id(enterprise.legalRepresentativeIdNumber)
        with self._lock:
            created = enterprise.uscc not in self._by_uscc
            self._by_uscc[enterprise.uscc] = enterprise
        return created

    def find(self, uscc: str) -> Enterprise | None:
        with self._lock:
            return self._by_uscc.get(uscc)

    def all(self) -> list[Enterprise]:
        with self._lock:
            return list(self._by_uscc.values())


class Verification(ComplexModel):
    __namespace__ = NS
    match = Boolean
    reason = Unicode


class Registration(ComplexModel):
    __namespace__ = NS
    uscc = Unicode
    name = Unicode
    legalRepresentative = Unicode
    registeredCapital = Long  # fen
    status = Unicode
    address = Unicode


_Required = Unicode(min_occurs=1, nillable=False)
_Optional = Unicode(min_occurs=0)


class EnterpriseService(ServiceBase):
    @rpc(_Required, _Optional, _Optional, _returns=Verification)
    def VerifyEnterprise(ctx, uscc, legalRepresentative, legalRepresentativeIdNumber):
        sim = ctx.app.simulator
        sim.control.served("VerifyEnterprise")
        try:
            code = validate_uscc(uscc)
        except InvalidIdentifier:
            return Verification(match=False, reason="invalid_uscc")
        if not legalRepresentative and not legalRepresentativeIdNumber:
            return Verification(match=False, reason="invalid_request")
        found = sim.data.find(code)
        if found is None:
            return Verification(match=False, reason="not_registered")
        if legalRepresentativeIdNumber:
            # The registry's own record, exactly: no stripping, no case folding.
            matches = found.legalRepresentativeIdNumber is not None and \
                legalRepresentativeIdNumber == found.legalRepresentativeIdNumber
        else:
            matches = found.legalRepresentative == (legalRepresentative or "").strip()
        if not matches:
            return Verification(match=False, reason="legal_representative_mismatch")
        if found.status != ACTIVE:
            return Verification(match=False, reason="not_active")
        return Verification(match=True, reason="ok")

    @rpc(_Required, _returns=Registration)
    def GetRegistration(ctx, uscc):
        sim = ctx.app.simulator
        sim.control.served("GetRegistration")
        try:
            code = validate_uscc(uscc)
        except InvalidIdentifier:
            raise Fault(faultcode="Client.InvalidUscc", faultstring="统一社会信用代码格式不正确 (invalid USCC)")
        found = sim.data.find(code)
        if found is None:
            raise Fault(faultcode="Client.NotFound", faultstring=f"未找到企业登记信息 (no registration for {mask(code)})")
        return Registration(**{k: v for k, v in asdict(found).items() if k != "legalRepresentativeIdNumber"})


def create_app(data: EnterpriseData | None = None):
    """The enterprise registry as one WSGI app (SOAP at `/soap`, `/_admin`, `/_control`)."""
    state, data = ControlState(), data or EnterpriseData()
    admin = system_app(__name__, state)

    @admin.post("/_admin/enterprises")
    def add_enterprise():
        body = request.get_json(silent=True) or {}
        missing = [f for f in ("uscc", "name", "legalRepresentative") if not body.get(f)]
        if missing:
            return jsonify(error="invalid_request", message=f"required: {', '.join(missing)}"), 400
        try:
            enterprise = Enterprise(uscc=body["uscc"], name=body["name"], legalRepresentative=body["legalRepresentative"],
                                    registeredCapital=int(body.get("registeredCapital", 0)),
                                    status=body.get("status", ACTIVE), address=body.get("address", ""),
                                    legalRepresentativeIdNumber=body.get("legalRepresentativeIdNumber"))
            created = data.add(enterprise)
        except (InvalidIdentifier, ValueError, TypeError) as exc:
            return jsonify(error="invalid_request", message=str(exc)), 400
        return jsonify(asdict(enterprise)), 201 if created else 200

    @admin.get("/_admin/enterprises")
    def list_enterprises():
        return jsonify(enterprises=[asdict(e) for e in data.all()])

    return soap_system(admin, [EnterpriseService], tns=NS, name="EnterpriseRegistry", state=state, data=data)
