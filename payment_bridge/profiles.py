"""Platform profiles: which platforms we talk to, where, with which keys (config/payments.yaml).

One `PaymentProfiles` per process, built from the YAML file and the one `Settings` object: every
`{field}` in the file is that setting (`{simulators_url}`, `{nontax_mac_token}` ...; the variables
are `GOVLINK_<FIELD>`). Outside production, missing WeChat Pay development keys are generated once
under `var/payment-keys/` (the simulator reads the other half of each pair); production refuses
them and every other development secret.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from config.settings import REPO_ROOT, Settings, fill
from payment_bridge.payment_code import PaymentCodeProfile

PROFILES_FILE = REPO_ROOT / "config" / "payments.yaml"
DEV_KEY_DIR = REPO_ROOT / "var" / "payment-keys"


class ProfileError(ValueError):
    """The payment profile file is missing a value or holds a development secret in production."""


@dataclass(frozen=True)
class NontaxProfile:
    url: str
    statement_url: str
    node: str
    platform_node: str
    mac_token: str = field(repr=False)


@dataclass(frozen=True)
class WechatPayProfile:
    api_base: str
    appid: str
    mchid: str
    merchant_serial: str
    merchant_private_key_file: str
    platform_serial: str
    platform_public_key_file: str
    api_v3_key: str = field(repr=False)
    notify_url: str = ""
    extra_platform_keys: str = ""  # "SERIAL=path,SERIAL=path": more keys verified at the same time

    def merchant_private_key(self) -> bytes:
        return Path(self.merchant_private_key_file).read_bytes()

    def extra_platform_key_files(self) -> dict[str, str]:
        """The extra keys by serial (checked by `load_profiles`); relative paths are under the checkout."""
        out: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in self.extra_platform_keys.split(","))):
            serial, _, path = entry.partition("=")
            out[serial.strip()] = path.strip() if os.path.isabs(path.strip()) else str(REPO_ROOT / path.strip())
        return out

    def platform_keys(self) -> dict[str, bytes]:
        """Every platform public key by serial: the configured one and the extras (a rotation, or
        the platform public key of WeChat's public-key mode, ``PUB_KEY_ID_...``), all accepted at once."""
        keys = {self.platform_serial: Path(self.platform_public_key_file).read_bytes()}
        for serial, path in self.extra_platform_key_files().items():
            keys[serial] = Path(path).read_bytes()
        return keys


# A platform certificate serial (hex) or a platform public key id (public-key mode).
_PLATFORM_SERIAL = re.compile(r"[0-9A-Fa-f]{1,40}|PUB_KEY_ID_[0-9]{1,50}")


def _check_platform_keys(profile: WechatPayProfile) -> None:
    variable = "GOVLINK_WECHATPAY_PLATFORM_EXTRA_KEYS"
    seen = {profile.platform_serial.upper()}
    for entry in filter(None, (part.strip() for part in profile.extra_platform_keys.split(","))):
        serial, sep, path = (part.strip() for part in entry.partition("="))
        if not sep or not path or not _PLATFORM_SERIAL.fullmatch(serial):
            raise ProfileError(f"{variable}: each entry is SERIAL=path, SERIAL a certificate serial (hex) or "
                               f"PUB_KEY_ID_ and digits")
        if serial.upper() in seen:
            raise ProfileError(f"{variable}: serial {serial} is given twice")
        seen.add(serial.upper())


@dataclass(frozen=True)
class PaymentProfiles:
    code_profile: PaymentCodeProfile
    division: str
    default_platform: str
    due_days: int
    poll_after_seconds: int
    agencies: Mapping[str, str]
    nontax: NontaxProfile
    wechatpay: WechatPayProfile
    timeout_seconds: float = 10.0

    @property
    def platforms(self) -> tuple[str, ...]:
        return ("nontax", "wechatpay")


def load_profiles(settings: Settings, path: Path | str | None = None) -> PaymentProfiles:
    """Read the profile file, fill in the settings, check, and return the profiles."""
    data = yaml.safe_load(Path(path or PROFILES_FILE).read_text(encoding="utf-8"))
    api_base = settings.wechatpay_api_base or settings.simulators_url.rstrip("/") + "/wechatpay"

    def expand(text):
        return fill(text, settings, wechatpay_api_base=api_base.rstrip("/"))

    platforms = data["platforms"]
    nontax = NontaxProfile(**{k: expand(v) for k, v in platforms["nontax"].items()})
    wechat = {k: expand(v) for k, v in platforms["wechatpay"].items()}
    for name in ("merchant_private_key_file", "platform_public_key_file"):
        if not os.path.isabs(wechat[name]):
            wechat[name] = str(REPO_ROOT / wechat[name])
    wechatpay = WechatPayProfile(**wechat)
    _check_platform_keys(wechatpay)
    if settings.env == "production":
        weak = settings.at_default("nontax_mac_token", "wechatpay_api_v3_key", "wechatpay_merchant_key_file",
                                   "wechatpay_platform_key_file")  # the courier profiles' rule too
        if weak:
            raise ProfileError("production needs real payment secrets; set " + ", ".join(weak))
    else:
        ensure_dev_keys(DEV_KEY_DIR)
    if len(wechatpay.api_v3_key.encode()) != 32:
        raise ProfileError("GOVLINK_WECHATPAY_API_V3_KEY must be 32 bytes")
    code = data["payment_code"]
    profiles = PaymentProfiles(
        code_profile=PaymentCodeProfile(**code),
        division=str(data["division"]),
        default_platform=str(data.get("default_platform", "nontax")),
        due_days=int(data.get("due_days", 7)),
        poll_after_seconds=int(data.get("poll_after_seconds", 60)),
        agencies={str(k): str(v) for k, v in (data.get("agencies") or {}).items()},
        nontax=nontax,
        wechatpay=wechatpay,
        timeout_seconds=settings.http_timeout_seconds,
    )
    if len(profiles.division) != profiles.code_profile.division_digits or not profiles.division.isdigit():
        raise ProfileError(f"division must be {profiles.code_profile.division_digits} digits")
    return profiles


def ensure_dev_keys(directory: Path) -> None:
    """Create the WeChat Pay development key pairs (merchant, platform) if they are missing.

    Each private key is written atomically (link of a finished temporary file), so processes that
    start together agree on one key; the public half is derived from it.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    directory.mkdir(parents=True, exist_ok=True)
    for who in ("merchant", "platform"):
        private = directory / f"wechatpay-{who}-private.pem"
        public = directory / f"wechatpay-{who}-public.pem"
        if not private.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            tmp = directory / f".{private.name}.{os.getpid()}"
            tmp.write_bytes(pem)
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, private)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        if not public.exists():
            key = serialization.load_pem_private_key(private.read_bytes(), password=None)
            pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
            tmp = directory / f".{public.name}.{os.getpid()}"
            tmp.write_bytes(pem)
            os.replace(tmp, public)
