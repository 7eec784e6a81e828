"""Logistics profiles (config/logistics.yaml): the centre, carriers, tariffs, per-service courier legs.

One `LogisticsProfiles` per process, built from the YAML file and the one `Settings` object, in the
same way as the payment profiles: every `{field}` in the file is that setting (`{simulators_url}`,
`{sf_check_word}` ...; the variables are `GOVLINK_<FIELD>`). With `GOVLINK_ENV=production` every
courier setting the file names must be set (the defaults are development values).

A carrier's `tracking` says where its news comes from: `own` (its route pushes and queries) or
`kuaidi100` (govlink subscribes each booked waybill at Kuaidi100 and asks Kuaidi100 when polling).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from config.settings import REPO_ROOT, Settings, fill, placeholders
from logistics_bridge.address import Address, validate_address
from logistics_bridge.carriers.ems import EmsSettings
from logistics_bridge.carriers.kuaidi100 import Kuaidi100Settings
from logistics_bridge.carriers.sf import SfSettings
from logistics_bridge.domain import LEG_KINDS
from logistics_bridge.errors import LogisticsError

PROFILES_FILE = REPO_ROOT / "config" / "logistics.yaml"
TRACKING = ("own", "kuaidi100")  # where a carrier's tracking comes from
_ADDRESSES = {"simulators_url", "public_base_url"}  # settings the file may leave at their defaults


class ProfileError(LogisticsError):
    """The logistics profile file is missing a value or holds a development secret in production."""

    code = "bad_config"


@dataclass(frozen=True)
class Tariff:
    """Postage of one carrier: ``first_fen`` up to ``first_g``, then ``step_fen`` per started ``step_g``."""

    first_g: int
    first_fen: int
    step_g: int
    step_fen: int

    def postage_fen(self, weight_g: int) -> int:
        """The quote for a parcel of ``weight_g`` grams (integer fen)."""
        if weight_g <= 0:
            raise ValueError("weight_g must be positive")
        extra = max(0, weight_g - self.first_g)
        return self.first_fen + math.ceil(extra / self.step_g) * self.step_fen


@dataclass(frozen=True)
class ServiceLegs:
    """A government service (事项) and which of its legs may go by courier."""

    code: str
    name: str
    courier_legs: frozenset[str]


@dataclass(frozen=True)
class Postage:
    agency_code: str
    item_code: str
    item_name: str
    unit: str
    platform: str


@dataclass(frozen=True)
class CarrierProfile:
    """Where a carrier is and how we sign in; ``settings`` is the adapter's own settings object."""

    name: str
    settings: object = field(repr=False)
    bill_url: str = ""
    service: str = "standard"
    tracking: str = "own"  # own | kuaidi100 (see the module doc)


@dataclass(frozen=True)
class LogisticsProfiles:
    centre: Address
    postage: Postage
    tariffs: Mapping[str, Tariff]
    services: Mapping[str, ServiceLegs]
    carriers: Mapping[str, CarrierProfile]
    kuaidi100: Kuaidi100Settings
    default_weight_g: int = 500
    pickup_code_attempts: int = 5
    poll_after_seconds: int = 1800
    booking_retry_seconds: int = 120
    postage_watch_days: int = 30  # a cancelled leg's closed notice is watched this long for a late payment
    timeout_seconds: float = 10.0

    @property
    def via_kuaidi100(self) -> tuple[str, ...]:
        """Carriers whose waybills are tracked through Kuaidi100 (subscribed when booked)."""
        return tuple(name for name, carrier in self.carriers.items() if carrier.tracking == "kuaidi100")

    @property
    def bookable(self) -> tuple[str, ...]:
        """Carriers a leg can be booked with (those with a tariff and credentials)."""
        return tuple(name for name in self.carriers if name in self.tariffs)

    def quote(self, carrier: str, weight_g: int) -> int:
        """Postage in fen for ``weight_g`` with ``carrier``; KeyError for an unknown carrier."""
        return self.tariffs[carrier].postage_fen(weight_g)


def load_profiles(settings: Settings, path: Path | str | None = None) -> LogisticsProfiles:
    """Read the profile file, fill in the settings, check, and return the profiles."""
    data = yaml.safe_load(Path(path or PROFILES_FILE).read_text(encoding="utf-8"))
    declared = {name: dict(spec or {}) for name, spec in (data.get("carriers") or {}).items()}
    carriers_raw = {name: {k: fill(v, settings) for k, v in spec.items()} for name, spec in declared.items()}
    named = {name for spec in declared.values() for value in spec.values() for name in placeholders(value)}
    defaulted = settings.at_default(*sorted(named - _ADDRESSES))
    if settings.env == "production" and defaulted:
        raise ProfileError("production needs real courier credentials; set " + ", ".join(defaulted))
    try:
        sf, ems, k100 = carriers_raw["sf"], carriers_raw["ems"], carriers_raw["kuaidi100"]
        carriers = {
            "sf": CarrierProfile("sf", SfSettings(partner_id=sf["partner_id"], check_word=sf["check_word"],
                                                  monthly_card=sf["monthly_card"], url=sf["url"]),
                                 bill_url=sf.get("bill_url", ""), service=sf.get("service", "standard"),
                                 tracking=sf.get("tracking", "own")),
            "ems": CarrierProfile("ems", EmsSettings(sender_no=ems["sender_no"], authorization=ems["authorization"],
                                                     sign_key=ems["sign_key"], url=ems["url"]),
                                  bill_url=ems.get("bill_url", ""), service=ems.get("service", "standard"),
                                  tracking=ems.get("tracking", "own")),
        }
        kuaidi100 = Kuaidi100Settings(customer=k100["customer"], key=k100["key"], salt=k100["salt"],
                                      callback_url=k100.get("callback_url", ""),
                                      **{k: k100[k] for k in ("query_url", "subscribe_url") if k100.get(k)})
        postage = Postage(**{k: str(v) for k, v in data["postage"].items()})
        tariffs = {name: Tariff(**{k: int(v) for k, v in spec.items()}) for name, spec in data["tariffs"].items()}
    except (KeyError, TypeError) as exc:
        raise ProfileError(f"config/logistics.yaml is missing {exc}") from None
    for carrier in carriers.values():
        if carrier.tracking not in TRACKING:
            raise ProfileError(f"carrier {carrier.name}: tracking must be one of {', '.join(TRACKING)}")
    services = {}
    for code, spec in (data.get("services") or {}).items():
        legs = frozenset(spec.get("courier_legs") or ())
        if not legs <= set(LEG_KINDS):
            raise ProfileError(f"service {code}: courier_legs must be among {', '.join(LEG_KINDS)}")
        services[str(code)] = ServiceLegs(str(code), str(spec.get("name", code)), legs)
    return LogisticsProfiles(
        centre=validate_address(data["centre"]),
        postage=postage,
        tariffs=tariffs,
        services=services,
        carriers=carriers,
        kuaidi100=kuaidi100,
        default_weight_g=int(data.get("default_weight_g", 500)),
        pickup_code_attempts=int(data.get("pickup_code_attempts", 5)),
        poll_after_seconds=int(data.get("poll_after_seconds", 1800)),
        booking_retry_seconds=int(data.get("booking_retry_seconds", 120)),
        postage_watch_days=int(data.get("postage_watch_days", 30)),
        timeout_seconds=settings.http_timeout_seconds,
    )
