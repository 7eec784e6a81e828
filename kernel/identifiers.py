"""Validation of the two identifiers the identity platform is keyed on (DOMAIN.md section 2, R1).

- Resident ID number (居民身份证号码), GB 11643-1999: a natural person.
- Unified social credit code (统一社会信用代码, USCC), GB 32100-2015: a legal person.

Pure functions, no I/O. Errors never carry the unmasked identifier: identifiers are
personal data (R11). The Keycloak validator in ``keycloak-providers/`` (``Identifiers.java``)
ports these rules one to one; change both together.

Choices made where the standards leave room:

- Province codes are the GB/T 2260 province-level codes, plus ``83``: the residence
  permit for Taiwan residents (台湾居民居住证, 830000) follows GB 11643 and its holders use
  our services. (Hong Kong and Macao permits use 81 and 82, already province codes.)
- A USCC's division may also be ``100000`` (the whole country), which central-level
  bodies registered by central authorities carry.
- The USCC registration-authority code is checked against the GB 32100-2015 table
  (with its amendment): 1 机构编制, 2 外交, 3 司法行政, 4 文化, 5 民政, 6 旅游, 7 宗教,
  8 工会, 9 工商 (market regulation), A 中央军委改革和编制办公室, N 农业, Y 其他.
- The organisation-category code (second char) is checked against the same table's
  categories of that authority (:data:`USCC_CATEGORIES`; e.g. 9 takes 1 企业, 2 个体工商户,
  3 农民专业合作社 only; Y is not divided and always 1). Table as quoted e.g. at
  https://osuse.cn/post/10002590.html and in fdstar/NumberValidators' ManagementKindCode.cs.
- Birth dates: a real date (four-digit year, GB/T 7408; there is no year 0000), not in the
  future, with no lower bound (DOMAIN.md section 2): GB 11643-1999 has no floor, and its
  appendix A example 440524188001010014 is a man born on 1 January 1880.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Literal

__all__ = [
    "USCC_ALPHABET",
    "USCC_AUTHORITIES",
    "USCC_CATEGORIES",
    "InvalidIdentifier",
    "canonical_resident_id",
    "canonical_uscc",
    "identifier_kind",
    "looks_like_identifier",
    "make_resident_id",
    "make_uscc",
    "mask",
    "org_code_check_char",
    "resident_id_check_char",
    "uscc_check_char",
    "validate_resident_id",
    "validate_uscc",
]

IDENTIFIER_LENGTH = 18

# GB/T 2260 province-level codes; 83 = residence permit of Taiwan residents (see module doc).
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
RESIDENT_ID_PROVINCES = PROVINCE_CODES | {"83"}
NATIONAL_DIVISION = "100000"  # 全国: central-level bodies in a USCC

_DIGITS = frozenset("0123456789")
_RESIDENT_CHECK_CHARS = frozenset("0123456789Xx")
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_CHARS = frozenset(USCC_ALPHABET)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# 登记管理部门代码, GB 32100-2015 table 1 with its amendment (see module doc).
USCC_AUTHORITIES = frozenset("123456789ANY")
# 机构类别代码 each registration authority may give, GB 32100-2015 table 1 with its amendment.
USCC_CATEGORIES: dict[str, frozenset[str]] = {
    "1": frozenset("1239"),  # 机构编制: 机关, 事业单位, 中央编办直接管理机构编制的群众团体, 其他
    "2": frozenset("19"),  # 外交: 外国常住新闻机构, 其他
    "3": frozenset("123459"),  # 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": frozenset("19"),  # 文化: 外国在华文化中心, 其他
    "5": frozenset("1239"),  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": frozenset("129"),  # 旅游: 外国旅游部门常驻代表机构, 港澳台地区旅游部门常驻内地(大陆)代表机构, 其他
    "7": frozenset("129"),  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": frozenset("19"),  # 工会: 基层工会, 其他
    "9": frozenset("123"),  # 工商: 企业, 个体工商户, 农民专业合作社
    "A": frozenset("19"),  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": frozenset("1239"),  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": frozenset("1"),  # 其他: not divided
}

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # GB 11714: A=10 ... Z=35
_ORG_BODY_CHARS = frozenset(_ORG_BODY_ALPHABET)

IdentifierKind = Literal["resident_id", "uscc"]


class InvalidIdentifier(ValueError):
    """An identifier failed validation.

    ``code`` says which rule failed: ``type``, ``empty``, ``length``, ``charset``,
    ``region``, ``birth_date``, ``authority``, ``category``, ``org_code`` or ``checksum``.
    The message shows the identifier masked only.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def mask(identifier: str) -> str:
    """Mask an identifier for logs and errors: first 4 and last 4 kept, the rest ``*``.

    Keeps the length (``3401**********123X``). Strings shorter than 12 characters
    would reveal most of themselves, so they come back as all stars.
    """
    text = str(identifier)
    if len(text) < 12:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a resident ID number."""
    if len(first17) != 17 or any(c not in _DIGITS for c in first17):
        raise ValueError("need exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_WEIGHTS))
    return _RESIDENT_CHECK[total % 11]


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character for the first 8 characters of an organisation code."""
    if len(first8) != 8 or any(c not in _ORG_BODY_CHARS for c in first8):
        raise ValueError("need exactly 8 characters from 0-9 and A-Z")
    total = sum(_ORG_BODY_ALPHABET.index(c) * w for c, w in zip(first8, _ORG_WEIGHTS))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != 17 or any(c not in _USCC_CHARS for c in first17):
        raise ValueError("need exactly 17 characters from the USCC alphabet")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _prepare(text: object, label: str) -> str:
    """Type, emptiness and length checks shared by both validators; returns the stripped text."""
    if not isinstance(text, str):
        raise InvalidIdentifier("type", f"{label} must be a string")
    stripped = text.strip()
    if not stripped:
        raise InvalidIdentifier("empty", f"{label} is empty")
    if len(stripped) != IDENTIFIER_LENGTH:
        # The length alone is enough to fix the input; no need to echo even a masked value.
        raise InvalidIdentifier(
            "length", f"{label} must be {IDENTIFIER_LENGTH} characters, got {len(stripped)}"
        )
    return stripped


def validate_resident_id(text: str, *, today: date | None = None) -> str:
    """Validate a resident ID number (GB 11643-1999) and return it normalised.

    Surrounding whitespace is stripped and a lower-case check ``x`` becomes ``X``.
    ``today`` bounds the birth date (defaults to the current date; pass it in tests).
    Raises InvalidIdentifier.
    """
    label = "resident ID number"
    stripped = _prepare(text, label)
    body, check = stripped[:17], stripped[17]
    if any(c not in _DIGITS for c in body) or check not in _RESIDENT_CHECK_CHARS:
        raise InvalidIdentifier(
            "charset", f"{label} {mask(stripped)} must be 17 digits and a digit or X"
        )
    normalised = body + check.upper()
    if body[:2] not in RESIDENT_ID_PROVINCES:
        raise InvalidIdentifier("region", f"{label} {mask(normalised)} has an unknown province code")
    _check_birth_date(body[6:14], today or date.today(), label, mask(normalised))
    if resident_id_check_char(body) != normalised[17]:
        raise InvalidIdentifier("checksum", f"{label} {mask(normalised)} has a wrong check character")
    return normalised


def _check_birth_date(yyyymmdd: str, today: date, label: str, masked: str) -> None:
    try:
        birth = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise InvalidIdentifier("birth_date", f"{label} {masked} has no real birth date") from None
    if birth > today:
        raise InvalidIdentifier("birth_date", f"{label} {masked} has a birth date in the future")


def validate_uscc(text: str) -> str:
    """Validate a unified social credit code (GB 32100-2015) and return it upper-cased.

    Checks the alphabet, the registration-authority code and its organisation category,
    the division's province,
    the embedded GB 11714 organisation code and the check character.
    Raises InvalidIdentifier.
    """
    label = "unified social credit code"
    stripped = _prepare(text, label)
    # Upper-case per character against a fixed set: str.upper() can change the length (ß -> SS).
    if any(not c.isascii() or c.upper() not in _USCC_CHARS for c in stripped):
        raise InvalidIdentifier(
            "charset", f"{label} {mask(stripped)} has characters outside {USCC_ALPHABET}"
        )
    code = stripped.upper()
    masked = mask(code)
    if code[0] not in USCC_AUTHORITIES:
        raise InvalidIdentifier(
            "authority", f"{label} {masked} has an unknown registration-authority code"
        )
    if code[1] not in USCC_CATEGORIES[code[0]]:
        raise InvalidIdentifier(
            "category",
            f"{label} {masked}: organisation category {code[1]} is not one registration authority "
            f"{code[0]} gives (GB 32100: {', '.join(sorted(USCC_CATEGORIES[code[0]]))})",
        )
    division = code[2:8]
    if any(c not in _DIGITS for c in division) or (
        division[:2] not in PROVINCE_CODES and division != NATIONAL_DIVISION
    ):
        raise InvalidIdentifier("region", f"{label} {masked} has an unknown administrative division")
    org_code = code[8:17]
    if org_code_check_char(org_code[:8]) != org_code[8]:
        raise InvalidIdentifier(
            "org_code", f"{label} {masked} embeds an invalid organisation code"
        )
    if uscc_check_char(code[:17]) != code[17]:
        raise InvalidIdentifier("checksum", f"{label} {masked} has a wrong check character")
    return code


def canonical_resident_id(text: object, *, today: date | None = None) -> str:
    """A resident ID number given exactly in its canonical form (17 ASCII digits, then a digit or
    upper-case X), returned unchanged; anything else raises InvalidIdentifier.

    For identity claims and other values that must not be normalised: unlike
    `validate_resident_id`, nothing is stripped and ``x`` is not upper-cased (a value that only
    becomes the ID number after normalising is someone else's: issue 15).
    """
    normalised = validate_resident_id(text, today=today)  # type and rule checks, masked messages
    if text != normalised:
        raise InvalidIdentifier("not_canonical", f"resident ID number {mask(normalised)} is not written canonically")
    return normalised


def canonical_uscc(text: object) -> str:
    """A USCC given exactly in its canonical form (18 upper-case characters of the alphabet),
    returned unchanged; anything else (spaces, lower case) raises InvalidIdentifier."""
    normalised = validate_uscc(text)
    if text != normalised:
        raise InvalidIdentifier("not_canonical", f"unified social credit code {mask(normalised)} is not written canonically")
    return normalised


def looks_like_identifier(text: object) -> bool:
    """True if `text` becomes a valid resident ID number or USCC once Unicode-normalised (NFKC:
    full-width digits), stripped of every space, control and format character and upper-cased.

    Used to tell a disguised identifier (refuse it) from an ordinary non-identifier name such as a
    staff username (let it be).
    """
    if not isinstance(text, str) or len(text) > 4 * IDENTIFIER_LENGTH:
        return False
    folded = "".join(c for c in unicodedata.normalize("NFKC", text)
                      if not unicodedata.category(c).startswith(("Z", "C"))).upper()
    if len(folded) != IDENTIFIER_LENGTH:
        return False
    for validator in (validate_resident_id, validate_uscc):
        try:
            validator(folded)
            return True
        except InvalidIdentifier:
            continue
    return False


def identifier_kind(text: str, *, today: date | None = None) -> IdentifierKind:
    """Validate ``text`` as either identifier and say which it is.

    Text shaped like a resident ID (17 digits then a digit or X) is tried as one first;
    a USCC can be all digits too, so it is then tried as a USCC. If both fail, the
    error of the kind the text is shaped like is raised.
    """
    stripped = text.strip() if isinstance(text, str) else text
    resident_shaped = (
        isinstance(stripped, str)
        and len(stripped) == IDENTIFIER_LENGTH
        and all(c in _DIGITS for c in stripped[:17])
        and stripped[17] in _RESIDENT_CHECK_CHARS
    )
    if not resident_shaped:
        validate_uscc(text)
        return "uscc"
    try:
        validate_resident_id(text, today=today)
        return "resident_id"
    except InvalidIdentifier as resident_error:
        try:
            validate_uscc(text)
        except InvalidIdentifier:
            raise resident_error from None
        return "uscc"


def make_resident_id(region: str = "340104", birth: date = date(1990, 1, 1), seq: int = 123) -> str:
    """Build a valid resident ID number (for tests and simulators); odd ``seq`` = male."""
    if not 0 <= seq <= 999:
        raise ValueError("seq must be 0..999")
    first17 = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{seq:03d}"  # %Y drops zeros before 1000
    return first17 + resident_id_check_char(first17)


def make_uscc(
    authority: str = "9",
    category: str = "1",
    region: str = "340100",
    org_body: str = "MA2N0001",
) -> str:
    """Build a valid USCC (for tests and simulators) from its parts.

    ``org_body`` is the first 8 characters of the organisation code; its GB 11714 check
    character and the USCC check character are computed.
    """
    org_code = org_body + org_code_check_char(org_body)
    first17 = f"{authority}{category}{region}{org_code}"
    return first17 + uscc_check_char(first17)
