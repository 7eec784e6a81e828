"""Stand-in for the population registry (公安人口库), SOAP 1.1 via spyne, mounted at `/population`.

Operations (WSDL at `/population/soap?wsdl`):
- `VerifyIdentity(name, idNumber) -> {match, reason}`; reason is `ok`, `name_mismatch`,
  `not_registered` or `invalid_id_number`.
- `GetHousehold(idNumber) -> {householdId, address, headName, members[{name, idNumber, gender,
  birthDate, relation}]}`; faults `Client.NotFound` / `Client.InvalidIdNumber`.

Who is registered:
- the people of `SEED_PEOPLE` (two households);
- anyone added with `POST /population/_admin/people {"name", "idNumber", "address"?, "householdId"?,
  "relation"?}` (201 new, 200 replaced) -- the way for tests to create verifiable people;
- any other valid resident ID number of Anhui (starting with 34), under the name
  `table_name(id_number)` (a deterministic name table), living alone in a one-person household.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import date

from flask import jsonify, request
from spyne import Boolean, ComplexModel, ServiceBase, Unicode, rpc
from spyne.model.fault import Fault

from kernel.identifiers import InvalidIdentifier, make_resident_id, mask, validate_resident_id
from simulators.control import ControlState, system_app
from simulators.soap import soap_system

NS = "http://population.gov.hefei.cn/registry"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
_LOCAL_PROVINCE = "34"  # Anhui: the registry knows every valid local ID number through the name table


def table_name(id_number: str) -> str:
    """The name under which the registry knows an unseeded Anhui ID number.

    Surname from the birth date, given name from the sequence number:
    `_SURNAMES[int(YYYYMMDD) % 20] + _GIVEN[int(seq) % 20]`.
    """
    return _SURNAMES[int(id_number[6:14]) % len(_SURNAMES)] + _GIVEN[int(id_number[14:17]) % len(_GIVEN)]


@dataclass
class Person:
    name: str
    idNumber: str
    householdId: str
    relation: str  # 与户主关系: 户主, 配偶, 子女 ...
    address: str

    @property
    def gender(self) -> str:
        return "男" if int(self.idNumber[16]) % 2 else "女"

    @property
    def birthDate(self) -> str:
        return f"{self.idNumber[6:10]}-{self.idNumber[10:12]}-{self.idNumber[12:14]}"


_SHUSHAN = "安徽省合肥市蜀山区长江西路100号"
_LUYANG = "安徽省合肥市庐阳区阜南路8号"
SEED_PEOPLE: list[Person] = [
    Person("张伟", make_resident_id("340104", date(1985, 3, 12), 131), "H3401040001", "户主", _SHUSHAN),
    Person("李娜", make_resident_id("340104", date(1987, 7, 8), 242), "H3401040001", "配偶", _SHUSHAN),
    Person("张子涵", make_resident_id("340104", date(2012, 9, 1), 353), "H3401040001", "子女", _SHUSHAN),
    Person("王芳", make_resident_id("340103", date(1992, 11, 23), 406), "H3401030002", "户主", _LUYANG),
]


class PopulationData:
    """The registry's people and households; thread-safe."""

    def __init__(self, people: list[Person] | None = None):
        self._lock = threading.Lock()
        self._people = {p.idNumber: Person(**asdict(p)) for p in (SEED_PEOPLE if people is None else people)}

    def add(self, name: str, id_number: str, *, address: str | None = None, household_id: str | None = None,
            relation: str | None = None) -> tuple[Person, bool]:
        """Register (or replace) a person; returns (person, created)."""
        id_number = validate_resident_id(id_number)
        person = Person(name=name, idNumber=id_number, householdId=household_id or f"H{id_number[:6]}{id_number[-5:]}",
                        relation=relation or ("户主" if not household_id else "家庭成员"), address=address or _SHUSHAN)
        with self._lock:
            created = id_number not in self._people
            self._people[id_number] = person
        return person, created

    def find(self, id_number: str) -> Person | None:
        """The registered person, or the name-table person for an Anhui number, or None."""
        with self._lock:
            person = self._people.get(id_number)
        if person is None and id_number.startswith(_LOCAL_PROVINCE):
            person = Person(table_name(id_number), id_number, f"H{id_number[:6]}{id_number[-5:]}", "户主", _SHUSHAN)
        return person

    def household(self, person: Person) -> list[Person]:
        with self._lock:
            members = [p for p in self._people.values() if p.householdId == person.householdId]
        return members or [person]

    def people(self) -> list[Person]:
        with self._lock:
            return list(self._people.values())


class VerifyResult(ComplexModel):
    __namespace__ = NS
    match = Boolean
    reason = Unicode


class Member(ComplexModel):
    __namespace__ = NS
    name = Unicode
    idNumber = Unicode
    gender = Unicode
    birthDate = Unicode
    relation = Unicode


class Household(ComplexModel):
    __namespace__ = NS
    householdId = Unicode
    address = Unicode
    headName = Unicode
    members = Member.customize(max_occurs="unbounded")


_Required = Unicode(min_occurs=1, nillable=False)


class PopulationService(ServiceBase):
    @rpc(_Required, _Required, _returns=VerifyResult)
    def VerifyIdentity(ctx, name, idNumber):
        sim = ctx.app.simulator
        sim.control.served("VerifyIdentity")
        try:
            id_number = validate_resident_id(idNumber)
        except InvalidIdentifier:
            return VerifyResult(match=False, reason="invalid_id_number")
        person = sim.data.find(id_number)
        if person is None:
            return VerifyResult(match=False, reason="not_registered")
        if person.name != (name or "").strip():
            return VerifyResult(match=False, reason="name_mismatch")
        return VerifyResult(match=True, reason="ok")

    @rpc(_Required, _returns=Household)
    def GetHousehold(ctx, idNumber):
        sim = ctx.app.simulator
        sim.control.served("GetHousehold")
        try:
            id_number = validate_resident_id(idNumber)
        except InvalidIdentifier:
            raise Fault(faultcode="Client.InvalidIdNumber", faultstring="身份证号码格式不正确 (invalid ID number)")
        person = sim.data.find(id_number)
        if person is None:
            raise Fault(faultcode="Client.NotFound", faultstring=f"未找到户籍信息 (no household for {mask(id_number)})")
        members = sim.data.household(person)
        head = next((m for m in members if m.relation == "户主"), members[0])
        return Household(
            householdId=person.householdId, address=head.address, headName=head.name,
            members=[Member(name=m.name, idNumber=m.idNumber, gender=m.gender, birthDate=m.birthDate, relation=m.relation)
                     for m in members],
        )


def create_app(data: PopulationData | None = None):
    """The population registry as one WSGI app (SOAP at `/soap`, `/_admin`, `/_control`)."""
    state, data = ControlState(), data or PopulationData()
    admin = system_app(__name__, state)

    @admin.post("/_admin/people")
    def add_person():
        body = request.get_json(silent=True) or {}
        if not body.get("name") or not body.get("idNumber"):
            return jsonify(error="invalid_request", message="name and idNumber are required"), 400
        try:
            person, created = data.add(body["name"], body["idNumber"], address=body.get("address"),
                                       household_id=body.get("householdId"), relation=body.get("relation"))
        except InvalidIdentifier as exc:
            return jsonify(error="invalid_id_number", message=str(exc)), 400
        return jsonify(asdict(person)), 201 if created else 200

    @admin.get("/_admin/people")
    def list_people():
        return jsonify(people=[asdict(p) for p in data.people()])

    return soap_system(admin, [PopulationService], tns=NS, name="PopulationRegistry", state=state, data=data)
