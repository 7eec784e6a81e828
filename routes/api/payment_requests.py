"""How a caller's body becomes a `NoticeRequest` (POST /api/v1/payments): a clerk's or department's notice
takes every field from the body; a citizen's only catalogue items, at the catalogue's price, for themselves.
The bridge then checks the request itself (`payment_bridge.requests.check_notice_request`)."""
from __future__ import annotations

from payment_bridge.api import Item, NoticeRequest
from payment_bridge.fees import fee_catalogue
from routes.errors import ApiError


def own_keys(principal) -> list[str]:
    return [k for k in (principal.resident_id, principal.enterprise_uscc) if k]


def staff_request(data) -> NoticeRequest:
    """A clerk's or department's notice: every field from the body (the service checks agency and amounts)."""
    missing = {name: ["Missing data for required field."] for name in ("agency_code", "payer_key", "payer_name")
               if not data.get(name)}
    for index, item in enumerate(data["items"]):
        for name in ("name", "unit_price_fen"):
            if item.get(name) is None:
                missing.setdefault("items", {}).setdefault(str(index), {})[name] = ["Missing data for required field."]
    if missing:
        raise ApiError(422, "validation_failed", "The request did not pass validation; see details.fields.",
                       {"fields": {"json": missing}})
    return NoticeRequest(
        agency_code=data["agency_code"], payer_key=data["payer_key"].strip().upper(), payer_name=data["payer_name"],
        items=tuple(Item(i["code"], i["name"], i.get("unit") or "项", i["unit_price_fen"], i["quantity"])
                    for i in data["items"]),
        case_id=data.get("case_id"), due_at=data.get("due_at"), platform=data.get("platform"))


def self_service_request(principal, data) -> NoticeRequest:
    """A citizen's notice: catalogue items only, at the catalogue's price, the caller as payer."""
    server_sets = [name for name in ("agency_code", "payer_name") if name in data]
    server_sets += sorted({f"items[].{name}" for item in data["items"] for name in ("name", "unit", "unit_price_fen")
                           if name in item})
    catalogue = fee_catalogue()
    items = [catalogue.get(i["code"]) for i in data["items"]]
    unknown = [i["code"] for i, found in zip(data["items"], items) if found is None]
    if server_sets or unknown:
        raise ApiError(403, "not_self_service",
                       "Citizens create notices only for the self-service items of the fee catalogue: send item codes "
                       "and quantities; the agency, names, prices and payer are set by the server. Other notices are "
                       "issued by a clerk or the department.",
                       {"server_sets": server_sets or ["agency_code", "payer_name", "items[].name", "items[].unit",
                                                       "items[].unit_price_fen"],
                        "unknown_items": unknown, "self_service_items": catalogue.codes()})
    own = own_keys(principal)
    payer = (data.get("payer_key") or "").strip().upper() or (own[0] if own else "")
    if not payer or payer not in own:
        raise ApiError(403, "forbidden", "You may create payment notices only for yourself or your enterprise.")
    creator = "person" if payer == principal.resident_id else "enterprise"
    not_for_you = [item.code for item in items if creator not in item.creators]
    if not_for_you:
        raise ApiError(403, "not_self_service", f"These items are not self-service for a {creator} payer: "
                       f"{', '.join(not_for_you)}.", {"server_sets": [], "unknown_items": not_for_you,
                                                      "self_service_items": catalogue.codes()})
    agencies = {item.agency_code for item in items}
    if len(agencies) > 1:
        raise ApiError(422, "one_agency_per_notice", "One notice collects for one agency: create one notice per agency.",
                       {"agencies": sorted(agencies)})
    return NoticeRequest(
        agency_code=agencies.pop(), payer_key=payer, payer_name=_payer_name(principal, payer),
        items=tuple(Item(item.code, item.name, item.unit, item.price_fen, i["quantity"])
                    for item, i in zip(items, data["items"])),
        case_id=data.get("case_id"), due_at=data.get("due_at"), platform=data.get("platform"))


def _payer_name(principal, payer: str) -> str:
    """The caller's name from the token (a person: family + given name; an enterprise: its name)."""
    claims = principal.claims
    if payer == principal.enterprise_uscc:
        name = _organization_name(claims.get("organization"), payer)
        if name:
            return name
    name = f"{claims.get('family_name') or ''}{claims.get('given_name') or ''}".strip() or claims.get("name")
    if not name:
        raise ApiError(422, "payer_name_unknown", "Your account has no name to put on the notice; complete your "
                       "profile (real-name verification) first.")
    return str(name)[:100]


def _organization_name(claim, uscc: str) -> str | None:
    if isinstance(claim, dict):
        for alias, data in claim.items():
            if isinstance(data, dict) and (alias == uscc or uscc in (data.get("uscc") or [])):
                names = data.get("name")
                return (names[0] if isinstance(names, list) and names else names) or None
    return None
