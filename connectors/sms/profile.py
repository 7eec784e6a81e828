"""The SMS profile (config/sms.yaml) with every `{field}` filled from the settings.

`load_sms_profile(settings)` refuses, with GOVLINK_ENV=production, a secret id or key left at its
development default, like the payment and logistics profiles, and a gateway that is the simulator
(no GOVLINK_SMS_API_BASE) or not https.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml

from config.settings import REPO_ROOT, Settings, fill

PROFILE_FILE = REPO_ROOT / "config" / "sms.yaml"
SECRET_FIELDS = ("sms_secret_id", "sms_secret_key")


class SmsProfileError(ValueError):
    """The SMS profile is missing a value or holds a development secret in production."""


@dataclass(frozen=True)
class Template:
    id: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class CodePolicy:
    length: int = 6
    ttl_seconds: int = 300
    max_attempts: int = 5
    lock_seconds: int = 900
    resend_seconds: int = 60
    daily_per_phone: int = 10
    daily_per_ip: int = 30


@dataclass(frozen=True)
class SmsProfile:
    api_base: str
    service: str
    version: str
    region: str
    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str = ""
    sign_name: str = ""
    templates: dict = field(default_factory=dict)
    codes: CodePolicy = CodePolicy()

    @property
    def host(self) -> str:
        """The Host header the request is signed with (host[:port] of api_base)."""
        return urlsplit(self.api_base).netloc


def load_sms_profile(settings: Settings, path=PROFILE_FILE) -> SmsProfile:
    raw = yaml.safe_load(open(path, encoding="utf-8"))
    if settings.env == "production":
        weak = settings.at_default(*SECRET_FIELDS)
        if weak:
            raise SmsProfileError("production needs the real SMS credentials; set " + ", ".join(weak))
        # Empty falls back to the simulator: in production no citizen would ever get a code.
        if not settings.sms_api_base:
            raise SmsProfileError("production needs the SMS gateway; set GOVLINK_SMS_API_BASE "
                                  "(e.g. https://sms.tencentcloudapi.com)")
        if urlsplit(settings.sms_api_base).scheme != "https":
            raise SmsProfileError("GOVLINK_SMS_API_BASE must be an https URL in production (codes travel in it)")
    api_base = fill(raw.get("api_base") or "", settings) or f"{settings.simulators_url.rstrip('/')}/tencent-sms"
    values = {name: str(fill(raw.get(name, ""), settings)) for name in
              ("service", "version", "region", "secret_id", "secret_key", "sdk_app_id", "sign_name")}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise SmsProfileError(f"{path}: no value for {', '.join(missing)}")
    templates = {}
    for purpose, spec in (raw.get("templates") or {}).items():
        if not isinstance(spec, dict) or not spec.get("id"):
            raise SmsProfileError(f"{path}: templates.{purpose} needs an id")
        templates[purpose] = Template(str(spec["id"]), tuple(spec.get("params") or ()))
    try:
        codes = CodePolicy(**{k: int(v) for k, v in (raw.get("codes") or {}).items()})
    except (TypeError, ValueError) as exc:
        raise SmsProfileError(f"{path}: codes: {exc}") from None
    return SmsProfile(api_base=api_base.rstrip("/"), templates=templates, codes=codes, **values)
