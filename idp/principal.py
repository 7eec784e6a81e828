"""Who is calling: the `Principal` built from a verified access token's claims.

`caller` is the client identifier used for access rights and bus envelopes (X-Road style):
- `channel/<client_id>` for the five channel clients (`channel/service-hall`, `channel/web-portal`, ...);
- `GOV/<USCC>/<subsystem>` for department service accounts, and `govlink/<name>` for govlink's own
  service accounts: both from the hard-coded `govlink_client` claim their client's mapper sets.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kernel.identifiers import InvalidIdentifier, canonical_uscc, looks_like_identifier, validate_resident_id
from idp.tokens import TokenError

# Keycloak client id -> channel name (R2: 服务大厅窗口, 政府网站, 移动客户端, 自助终端, 服务热线).
CHANNEL_CLIENTS = {name: name for name in ("service-hall", "web-portal", "mobile-app", "kiosk", "hotline")}
CALLER_CLAIM = "govlink_client"
LEVEL_CLAIM = "assurance_level"
ORGANIZATION_CLAIM = "organization"
USCC_ATTRIBUTE = "uscc"


class NonCanonicalClaim(TokenError):
    """An identity claim names a resident ID number or USCC in a form other than the canonical one
    (padded, full-width, other case): the token is refused, never normalised into someone else's
    identity (issue 15 finding 1)."""

    def __init__(self, claim: str):
        super().__init__(f"the token's {claim} claim is not a canonical identifier")
        self.claim = claim


@dataclass(frozen=True)
class Principal:
    """The subject and client of a verified token. `resident_id` is unmasked: never log it."""

    subject: str
    client_id: str
    username: str | None = field(repr=False)  # a person's username is their resident ID number
    roles: frozenset[str]
    scopes: frozenset[str]
    assurance_level: int
    resident_id: str | None = field(repr=False)
    enterprise_uscc: str | None
    caller: str
    claims: dict = field(repr=False, compare=False, hash=False)

    @property
    def is_service_account(self) -> bool:
        return self.assurance_level == 0 and self.resident_id is None and CALLER_CLAIM in self.claims

    def envelope_claims(self) -> dict:
        """What a bus envelope carries of this principal (`principal`, bus/envelope.py): grant
        conditions are checked against it by the connector worker. Unmasked: never log it."""
        return {"subject": self.subject, "id_number": self.resident_id, "acting_for": self.enterprise_uscc,
                "level": self.assurance_level}

    @classmethod
    def from_claims(cls, claims: dict) -> "Principal":
        """Build the principal of verified `claims` (see module doc for `caller`)."""
        client_id = str(claims.get("azp") or claims.get("client_id") or "")
        username = claims.get("preferred_username")
        service_account = CALLER_CLAIM in claims or str(username or "").startswith("service-account-")
        return cls(
            subject=str(claims["sub"]),
            client_id=client_id,
            username=username,
            roles=frozenset((claims.get("realm_access") or {}).get("roles") or ()),
            scopes=frozenset(str(claims.get("scope") or "").split()),
            assurance_level=0 if service_account else _level(claims.get(LEVEL_CLAIM)),
            resident_id=None if service_account else resident_id_of(username),
            enterprise_uscc=None if service_account else enterprise_of(claims),
            caller=caller_of(client_id, claims),
            claims=dict(claims),
        )


def caller_of(client_id: str, claims: dict) -> str:
    """The access-rights client identifier of a token (see module doc)."""
    hard_coded = claims.get(CALLER_CLAIM)
    if isinstance(hard_coded, str) and hard_coded:
        return hard_coded
    if client_id in CHANNEL_CLIENTS:
        return f"channel/{CHANNEL_CLIENTS[client_id]}"
    return f"client/{client_id}"  # granted nothing in config/access.yaml


def resident_id_of(username) -> str | None:
    """The resident ID number a person's username is, or None for a username that is no ID number
    (staff, service accounts).

    Keycloak stores usernames lower-case, so the only accepted form is the canonical ID number
    lower-cased (a check character ``X`` reads ``x``), character for character. A username that
    is an ID number only after stripping, case-folding or NFKC (``<ID>\u3000``, full-width digits,
    an upper-case ``X`` Keycloak never stores) raises NonCanonicalClaim.
    """
    if not isinstance(username, str):
        return None
    try:
        resident_id = validate_resident_id(username)
    except InvalidIdentifier:
        resident_id = None
    if resident_id is not None and username == resident_id.lower():
        return resident_id
    if resident_id is not None or looks_like_identifier(username):
        raise NonCanonicalClaim("preferred_username")
    return None


def enterprise_of(claims: dict) -> str | None:
    """The USCC of the one enterprise (Keycloak organization) the token's subject acts for.

    Keycloak's organization mappers give `{"<alias>": {"uscc": [...], ...}}` (with attributes), a
    list of aliases, or (two mappers) a list of both; our organizations' alias is the USCC.
    None unless exactly one enterprise is named. A USCC in any but its canonical form (padded,
    lower case) raises NonCanonicalClaim; organizations that are no USCC at all are ignored.
    """
    found = set()
    for item in _organization_items(claims.get(ORGANIZATION_CLAIM)):
        try:
            found.add(canonical_uscc(item))
        except InvalidIdentifier:
            if looks_like_identifier(item):
                raise NonCanonicalClaim(ORGANIZATION_CLAIM) from None
    return found.pop() if len(found) == 1 else None


def _organization_items(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _organization_items(item)
    elif isinstance(value, dict):
        for alias, data in value.items():
            values = data.get(USCC_ATTRIBUTE) if isinstance(data, dict) else None
            yield values[0] if isinstance(values, list) and values else str(alias)


def _level(value) -> int:
    """A person's level from the claim; a person without one registered themselves: L1."""
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        level = int(value)
    except (TypeError, ValueError):
        return 1
    return level if level in (1, 2, 3) else 1
