"""Stand-in for the e-licence store (电子证照库), REST + JSON via Flask, mounted at `/e-licence`.

- `GET /e-licence/licences?holder_id=<resident ID or USCC>` -> `{"holderId", "total", "licences": [...]}`
  (400 without holder_id);
- `GET /e-licence/licences/<licence_id>` -> one licence, 404 `{"error": "not_found"}` if unknown.

A licence: `licenceId, licenceType, licenceName, holderId, holderName, issuer, issuedOn, validUntil, status`.
Seeded with `SEED_LICENCES` (for the seeded people and enterprises); add more with
`POST /e-licence/_admin/licences {...}` (licenceId is generated when absent; 201).
"""
from __future__ import annotations

import itertools
import threading

from flask import jsonify, request

from simulators.control import ControlState, Misbehaviour, json_fault, system_app
from simulators.enterprise import SEED_ENTERPRISES
from simulators.population import SEED_PEOPLE

_FIELDS = ("licenceId", "licenceType", "licenceName", "holderId", "holderName", "issuer", "issuedOn", "validUntil", "status")


def _seed() -> list[dict]:
    head, spouse = SEED_PEOPLE[0], SEED_PEOPLE[1]
    company = SEED_ENTERPRISES[0]
    return [
        {"licenceId": "DZZZ-340100-2023-000001", "licenceType": "business_licence", "licenceName": "营业执照",
         "holderId": company.uscc, "holderName": company.name, "issuer": "合肥市市场监督管理局",
         "issuedOn": "2023-04-18", "validUntil": None, "status": "有效"},
        {"licenceId": "DZZZ-340100-2021-000002", "licenceType": "household_register", "licenceName": "居民户口簿",
         "holderId": head.idNumber, "holderName": head.name, "issuer": "合肥市公安局蜀山分局",
         "issuedOn": "2021-06-01", "validUntil": None, "status": "有效"},
        {"licenceId": "DZZZ-340100-2020-000003", "licenceType": "driving_licence", "licenceName": "机动车驾驶证",
         "holderId": head.idNumber, "holderName": head.name, "issuer": "合肥市公安局交通警察支队",
         "issuedOn": "2020-03-15", "validUntil": "2030-03-15", "status": "有效"},
        {"licenceId": "DZZZ-340100-2019-000004", "licenceType": "marriage_certificate", "licenceName": "结婚证",
         "holderId": spouse.idNumber, "holderName": spouse.name, "issuer": "合肥市蜀山区民政局",
         "issuedOn": "2019-10-01", "validUntil": None, "status": "有效"},
    ]


SEED_LICENCES = _seed()


class LicenceData:
    """Licences by id; thread-safe."""

    def __init__(self, licences: list[dict] | None = None):
        self._lock = threading.Lock()
        self._by_id = {lic["licenceId"]: dict(lic) for lic in (SEED_LICENCES if licences is None else licences)}
        self._sequence = itertools.count(1000)

    def add(self, licence: dict) -> dict:
        record = {name: licence.get(name) for name in _FIELDS}
        with self._lock:
            record["licenceId"] = record["licenceId"] or f"DZZZ-340100-SIM-{next(self._sequence):06d}"
            record["status"] = record["status"] or "有效"
            self._by_id[record["licenceId"]] = record
        return record

    def get(self, licence_id: str) -> dict | None:
        with self._lock:
            return self._by_id.get(licence_id)

    def of_holder(self, holder_id: str) -> list[dict]:
        with self._lock:
            return [lic for lic in self._by_id.values() if lic["holderId"] == holder_id]


def create_app(data: LicenceData | None = None):
    """The e-licence store as one WSGI app (`/licences`, `/_admin`, `/_control`)."""
    state, data = ControlState(), data or LicenceData()
    app = system_app(__name__, state)

    @app.get("/licences")
    def list_licences():
        state.served("ListLicences")
        holder_id = (request.args.get("holder_id") or "").strip().upper()
        if not holder_id:
            return jsonify(error="invalid_request", message="holder_id is required"), 400
        licences = data.of_holder(holder_id)
        return jsonify(holderId=holder_id, total=len(licences), licences=licences)

    @app.get("/licences/<licence_id>")
    def get_licence(licence_id):
        state.served("GetLicence")
        licence = data.get(licence_id)
        if licence is None:
            return jsonify(error="not_found", message="no such licence"), 404
        return jsonify(licence)

    @app.post("/_admin/licences")
    def add_licence():
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("holderId") or not body.get("licenceName"):
            return jsonify(error="invalid_request", message="holderId and licenceName are required"), 400
        return jsonify(data.add(body)), 201

    wrapped = Misbehaviour(app.wsgi_app, state, fault=json_fault)
    wrapped.data = data
    return wrapped
