"""Identity API (R1-R4): who am I, registration, real-name verification, enterprises, CIBA approval.

Also the two endpoints Keycloak itself calls (`/idp/...`): the CIBA HTTP authentication channel
and the OIDC back-channel logout.
"""
from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from idp import checks, ciba, enterprises, logout, realname
from idp.levels import DESCRIPTIONS, acr_value
from idp.sessions import console_sessions_for, ended_sessions_for
from kernel.identifiers import mask
from routes.auth import current_principal, require_token
from routes.ratelimits import enforce

blp = Blueprint("identity", __name__, url_prefix="/api/v1",
                description="Unified identity: people keyed on the resident ID number, enterprises on the USCC")
keycloak_blp = Blueprint("idp", __name__, url_prefix="/idp",
                         description="Endpoints Keycloak calls: CIBA authentication channel, back-channel logout")
BEARER = [{"bearer": []}]
PHONE = validate.Regexp(r"^1[3-9][0-9]{9}$", error="a mainland mobile number of 11 digits")


def _runtime():
    return current_app.extensions["govlink"]


# ---------------------------------------------------------------- schemas
class EnterpriseSchema(Schema):
    uscc = fields.String(required=True, metadata={"description": "统一社会信用代码"})
    name = fields.String(required=True)


class MeSchema(Schema):
    subject = fields.String(required=True)
    username = fields.String(allow_none=True, metadata={"description": "masked when it is a resident ID number"})
    name = fields.String(allow_none=True)
    resident_id = fields.String(allow_none=True, metadata={"description": "masked: 3401**********0213"})
    assurance_level = fields.Integer(required=True, metadata={"description": "0 service account, 1-3 people"})
    acr = fields.String(allow_none=True, metadata={"description": "L1, L2 or L3"})
    assurance_description = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    scopes = fields.List(fields.String())
    client_id = fields.String()
    caller = fields.String(metadata={"description": "client identifier used for access rights"})
    acting_for = fields.String(allow_none=True, metadata={"description": "USCC of the enterprise the token acts for"})


class RegistrationSchema(Schema):
    resident_id = fields.String(required=True, metadata={"description": "居民身份证号码, the future username"})
    family_name = fields.String(required=True, validate=validate.Length(1, 32))
    given_name = fields.String(required=True, validate=validate.Length(1, 32))
    phone = fields.String(validate=PHONE)
    password = fields.String(required=True, load_only=True, validate=validate.Length(10, 128))


class RegisteredSchema(Schema):
    subject = fields.String(required=True)
    resident_id = fields.String(required=True, metadata={"description": "masked"})
    assurance_level = fields.Integer(required=True)
    rebound = fields.Boolean(metadata={"description": "true: an unverified (L1) account of this ID number was "
                                                     "reclaimed (re-bound to you, L2, registry-confirmed name)"})


class VerificationSchema(Schema):
    """A real-name outcome (`idp.realname.Outcome`) for `subject`: dumped from `{"subject", "outcome"}`."""

    subject = fields.String()
    level_before = fields.Integer(required=True, attribute="outcome.level_before")
    assurance_level = fields.Integer(required=True, attribute="outcome.level_after")
    method = fields.String(required=True, attribute="outcome.method")
    reference = fields.String(allow_none=True, attribute="outcome.reference")
    next_step = fields.String(attribute="outcome.next_step",
                              metadata={"description": "what the channel does to use the new level"})
    rebound = fields.Boolean(attribute="outcome.rebound", metadata={
        "description": "the account was re-bound to the verified person: previous credentials, sessions and contact "
                       "points removed"})
    initial_password = fields.String(allow_none=True, attribute="outcome.initial_password", metadata={
        "description": "in person only: one-time password to hand to the person (a new one is asked at first "
                       "sign-in); shown once, never stored"})


class InPersonSchema(Schema):
    resident_id = fields.String(required=True)
    document = fields.String(load_default="resident_id_card",
                             validate=validate.OneOf(["resident_id_card", "temporary_id_card", "residence_permit"]))
    family_name = fields.String(validate=validate.Length(1, 32), metadata={"description": "as on the document"})
    given_name = fields.String(validate=validate.Length(1, 32), metadata={"description": "as on the document"})


class EnterpriseRegistrationSchema(Schema):
    uscc = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 100))
    legal_representative = fields.String(validate=validate.Length(1, 32), metadata={
        "description": "deprecated, ignored: the registry matches the signed-in person's resident ID number"})


class EnterpriseRegisteredSchema(EnterpriseSchema):
    verification_call_id = fields.String()


class MemberSchema(Schema):
    resident_id = fields.String(required=True)


class CibaRequestSchema(Schema):
    id = fields.String(required=True)
    client_id = fields.String()
    scope = fields.String()
    binding_message = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()


class CibaDecisionSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "deny"]))


# ---------------------------------------------------------------- who am I
@blp.get("/me")
@blp.response(200, MeSchema)
@blp.doc(security=BEARER)
@require_token()
def me():
    """Who the token speaks for: level, roles, the enterprise it acts for; identifiers masked."""
    return me_body(current_principal())


def me_body(p) -> dict:
    """The body of `GET /api/v1/me` for a principal (also served by `routes.token_reads`)."""
    level = p.assurance_level
    family, given = p.claims.get("family_name") or "", p.claims.get("given_name") or ""
    return {
        "subject": p.subject, "username": mask(p.username) if p.resident_id else p.username,
        "name": f"{family}{given}" or None, "resident_id": mask(p.resident_id) if p.resident_id else None,
        "assurance_level": level, "acr": acr_value(level) if level else None,
        "assurance_description": DESCRIPTIONS.get(level), "roles": sorted(p.roles), "scopes": sorted(p.scopes),
        "client_id": p.client_id, "caller": p.caller, "acting_for": p.enterprise_uscc,
    }


# ---------------------------------------------------------------- registration and levels
@blp.post("/identity/registrations")
@blp.arguments(RegistrationSchema())
@blp.response(201, RegisteredSchema)
@blp.alt_response(409, response="CONFLICT", description="already_registered: the account is verified (or the registry "
                                                          "did not confirm the name); `details.reclaim` says how")
@blp.alt_response(504, response="GATEWAY_TIMEOUT", description="registry_unavailable (reclaiming an L1 account)")
@blp.alt_response(429, response="TOO_MANY_REQUESTS", description="rate_limited: too many registrations from this "
                  "address; see the Retry-After header")
def register(body):
    """Register a person (L1) keyed on their resident ID number; they then sign in with it.

    If an unverified (L1) account already holds the number, the population registry is asked for the
    registrant's name: when it confirms it, that account is re-bound to the registrant (L2, their
    password; the previous holder's credentials and sessions removed) and `rebound` is true.
    """
    enforce("registration/ip")  # every attempt that reaches here counts (config/rate_limits.yaml)
    resident_id = checks.resident_id(body["resident_id"])
    subject, reclaimed = realname.register(_runtime(), resident_id, body["family_name"].strip(),
                                           body["given_name"].strip(), body["password"], body.get("phone"),
                                           ended_sessions=ended_sessions_for(current_app))
    return {"subject": subject, "resident_id": mask(resident_id), "rebound": reclaimed is not None,
            "assurance_level": reclaimed.level_after if reclaimed else 1}


@blp.post("/identity/verifications/population-registry")
@blp.response(200, VerificationSchema)
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="not_verified: the registry did not confirm")
@blp.alt_response(504, response="GATEWAY_TIMEOUT", description="registry_unavailable: the registry did not answer in time")
@blp.alt_response(429, response="TOO_MANY_REQUESTS", description="rate_limited: too many registry checks; see Retry-After")
@blp.doc(security=BEARER)
@require_token(level=1, person="Only a person signed in with a resident ID number can be verified.")
def verify_with_registry():
    """Raise the signed-in person to L2: name and ID number confirmed by the population registry (via the bus)."""
    p = current_principal()
    return {"subject": p.subject, "outcome": realname.verify_with_registry(_runtime(), p)}


@blp.post("/identity/verifications/in-person")
@blp.arguments(InPersonSchema())
@blp.response(200, VerificationSchema)
@blp.alt_response(404, response="NOT_FOUND", description="unknown_person: no account with this resident ID number")
@blp.doc(security=BEARER)
@require_token(roles=("clerk",),
               client=("service-hall", "In-person verification is recorded from the service-hall counter."))
def verify_in_person(body):
    """A counter clerk records that they checked the person's ID document in person: the account of that ID
    number becomes theirs at L3 (re-bound: every previous credential, session and contact point removed; the
    one-time `initial_password` in the answer is handed to the person, who sets their own at first sign-in)."""
    subject, outcome = realname.verify_in_person(
        _runtime(), current_principal(), checks.resident_id(body["resident_id"]), body["document"],
        family_name=body.get("family_name", "").strip() or None, given_name=body.get("given_name", "").strip() or None,
        ended_sessions=ended_sessions_for(current_app))
    # The answer carries a one-time password: no cache may keep it.
    return {"subject": subject, "outcome": outcome}, {"Cache-Control": "no-store", "Pragma": "no-cache"}


# ---------------------------------------------------------------- enterprises
@blp.get("/identity/enterprises")
@blp.response(200, EnterpriseSchema(many=True))
@blp.doc(security=BEARER)
@require_token(level=1)
def my_enterprises():
    """The enterprises the signed-in person may act for."""
    return enterprises.of_person(_runtime(), current_principal().subject)


@blp.post("/identity/enterprises")
@blp.arguments(EnterpriseRegistrationSchema())
@blp.response(201, EnterpriseRegisteredSchema)
@blp.alt_response(409, response="CONFLICT", description="the enterprise is already registered")
@blp.alt_response(504, response="GATEWAY_TIMEOUT", description="registry_unavailable: the registry did not answer in time")
@blp.doc(security=BEARER)
@require_token(level=2)
def register_enterprise(body):
    """The legal representative (L2+) registers an enterprise: the enterprise registry (via the bus) confirms
    that the signed-in person's resident ID number is the representative's."""
    return enterprises.register(_runtime(), current_principal(), checks.uscc(body["uscc"]), body["name"])


@blp.post("/identity/enterprises/<string:uscc>/members")
@blp.arguments(MemberSchema())
@blp.response(201, Schema.from_dict({"uscc": fields.String(), "member": fields.String()})())
@blp.doc(security=BEARER)
@require_token(level=2)
def add_enterprise_member(body, uscc):
    """A member lets another person (by ID number) act for the enterprise."""
    uscc = checks.uscc(uscc)
    return enterprises.add_member(_runtime(), current_principal(), uscc, checks.resident_id(body["resident_id"]))


# ---------------------------------------------------------------- CIBA approval (mobile app)
@blp.get("/identity/ciba/requests")
@blp.response(200, CibaRequestSchema(many=True))
@blp.doc(security=BEARER)
@require_token()
def ciba_requests():
    """Sign-in requests (e.g. from the hotline) waiting for the signed-in person's decision."""
    return ciba.pending_for(_runtime(), current_principal().subject)


@blp.post("/identity/ciba/requests/<string:request_id>")
@blp.arguments(CibaDecisionSchema())
@blp.response(200, CibaRequestSchema)
@blp.doc(security=BEARER)
@require_token(client=("mobile-app", "Sign-in requests are approved in the mobile app."))
def ciba_decide(body, request_id):
    """Approve or deny a sign-in request, from the mobile app."""
    return ciba.decide(_runtime(), current_principal().subject, request_id, body["decision"])


# ---------------------------------------------------------------- called by Keycloak
@keycloak_blp.post("/ciba/auth-channel")
@keycloak_blp.response(201)
def ciba_auth_channel():
    """Keycloak's HTTP authentication channel: keep the request for the person to decide."""
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    body = request.get_json(silent=True) or {}
    ciba.receive(_runtime(), bearer.strip() if scheme.lower() == "bearer" else "", body)
    return ""


@keycloak_blp.post("/backchannel-logout")
@keycloak_blp.response(200)
def backchannel_logout():
    """OIDC back-channel logout: verify Keycloak's logout token and end the session for every channel."""
    logout.end_session(_runtime().settings, request.form.get("logout_token", ""), ended_sessions_for(current_app),
                       console_sessions_for(current_app))
    return ""
