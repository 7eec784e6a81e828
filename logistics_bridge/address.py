"""Postal addresses and contacts for waybills: validation, normalisation, masking.

Couriers reject (or worse, misroute) parcels whose address does not name the
province, city and district, or whose phone cannot be called, so we check before
booking. Scope is mainland China: the 31 province-level divisions (a parcel to Hong
Kong, Macao or Taiwan is a cross-border shipment with customs data we do not model).

Normalisation: NFKC (full-width digits and letters to ASCII), trimmed, inner runs of
whitespace collapsed; a province may be given by its short name (``安徽`` -> ``安徽省``);
for the four municipalities an empty city becomes the municipality itself.
Phones: mobile ``1[3-9]`` + 9 digits (a ``+86``/``86`` prefix is dropped); landline
with area code, stored as ``AREA-NUMBER[-EXT]``. Area codes 010 and 02X have three
digits, every other area code four: that is how the national plan is laid out, and it
lets us split a landline given without separators.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from logistics_bridge.errors import InvalidAddress

_PROVINCES = (
    "北京市 天津市 上海市 重庆市 河北省 山西省 辽宁省 吉林省 黑龙江省 江苏省 浙江省 安徽省 福建省 "
    "江西省 山东省 河南省 湖北省 湖南省 广东省 海南省 四川省 贵州省 云南省 陕西省 甘肃省 青海省 "
    "内蒙古自治区 广西壮族自治区 西藏自治区 宁夏回族自治区 新疆维吾尔自治区"
).split()
MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})


def _short_name(full: str) -> str:
    for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "省", "市"):
        if full.endswith(suffix):
            return full[: -len(suffix)]
    return full


PROVINCES: dict[str, str] = {name: name for name in _PROVINCES} | {
    _short_name(name): name for name in _PROVINCES
}

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_NUMBER = re.compile(r"[1-9][0-9]{6,7}")
_EXT = re.compile(r"[0-9]{1,6}")
_SEPARATORS = re.compile(r"[\s\-()（）]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_LIMITS = {"name": 30, "city": 30, "district": 30, "detail": 120}


@dataclass(frozen=True)
class Address:
    """A normalised, validated contact and address (寄件人/收件人)."""

    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str

    def __repr__(self) -> str:
        # Personal data: keep names, phones and street details out of logs.
        return (
            f"Address(province={self.province!r}, city={self.city!r}, district={self.district!r}, "
            f"phone={mask_phone(self.phone)!r})"
        )


def _clean(value: object) -> str:
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return " ".join(text.split())


def _text(field: str, value: object, *, required: bool = True) -> str:
    text = _clean(value)
    if required and not text:
        raise InvalidAddress(field, "is required")
    if _CONTROL.search(text):
        raise InvalidAddress(field, "contains control characters")
    if len(text) > _LIMITS.get(field, 30):
        raise InvalidAddress(field, f"longer than {_LIMITS.get(field, 30)} characters")
    return text


def normalise_phone(value: object) -> str:
    """Return a mobile as 11 digits or a landline as ``AREA-NUMBER[-EXT]``.

    Raises :class:`InvalidAddress` (field ``phone``) for anything else.
    """
    text = _clean(value)
    parts = [part for part in _SEPARATORS.split(text) if part]
    mobile = "".join(parts)
    if mobile.startswith("+86"):
        mobile = mobile[3:]
    elif mobile.startswith("86") and len(mobile) == 13:
        mobile = mobile[2:]
    if _MOBILE.fullmatch(mobile):
        return mobile
    landline = _landline(parts)
    if landline is None:
        raise InvalidAddress("phone", "not a mainland mobile or a landline with area code")
    return landline


def _landline(parts: list[str]) -> str | None:
    if not parts or len(parts) > 3 or not all(part.isdigit() for part in parts):
        return None
    ext = None
    if len(parts) == 3:
        area, number, ext = parts
    elif len(parts) == 2 and len(parts[0]) <= 4:
        area, number = parts
    else:
        if len(parts) == 2:
            ext = parts[1]
        # Digits run together: split by the numbering plan (see module doc).
        cut = 3 if parts[0].startswith(("010", "02")) else 4
        area, number = parts[0][:cut], parts[0][cut:]
    if not _area_ok(area) or not _NUMBER.fullmatch(number):
        return None
    if ext is not None and not _EXT.fullmatch(ext):
        return None
    return f"{area}-{number}" + (f"-{ext}" if ext else "")


def _area_ok(area: str) -> bool:
    if not area.startswith("0"):
        return False
    if area == "010" or re.fullmatch(r"02[0-9]", area):
        return True
    return len(area) == 4 and not area.startswith(("010", "02"))


def mask_phone(phone: str) -> str:
    """Mask a phone for logs: ``138****5678``, ``0551-****5678``."""
    if not phone:
        return ""
    parts = phone.split("-")
    if len(parts) >= 2:
        number = parts[1]
        return f"{parts[0]}-{'*' * max(len(number) - 4, 0)}{number[-4:]}"
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


def validate_address(data: Mapping[str, object] | Address) -> Address:
    """Validate and normalise an address given as a mapping (or re-check an :class:`Address`).

    Keys: ``name, phone, province, city, district, detail``. Raises
    :class:`InvalidAddress` naming the first field that is wrong.
    """
    if isinstance(data, Address):
        data = data.__dict__
    name = _text("name", data.get("name"))
    phone = normalise_phone(data.get("phone"))
    province_text = _text("province", data.get("province"))
    province = PROVINCES.get(province_text)
    if province is None:
        raise InvalidAddress("province", "not a mainland province-level division")
    city = _text("city", data.get("city"), required=province not in MUNICIPALITIES)
    if province in MUNICIPALITIES and city in ("", _short_name(province), "市辖区"):
        city = province
    district = _text("district", data.get("district"))
    detail = _text("detail", data.get("detail"))
    if len(detail) < 2 or detail in (province, city, district):
        raise InvalidAddress("detail", "must give the street and number")
    return Address(name=name, phone=phone, province=province, city=city, district=district, detail=detail)
