"""WeChat Pay API v3 signatures (SHA256withRSA, PKCS#1 v1.5) in both directions.

- Platform → us (callbacks and API responses): headers ``Wechatpay-Timestamp``,
  ``Wechatpay-Nonce``, ``Wechatpay-Signature`` (base64), ``Wechatpay-Serial`` over
  ``timestamp\\nnonce\\nbody\\n``, verified with the platform public key picked by
  serial, inside a 5-minute window.
- Us → platform (API requests): ``Authorization: WECHATPAY2-SHA256-RSA2048
  mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`` over
  ``METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n``, where URL is the path and query.

Both sides are here because the simulator plays WeChat with the same code.
Every verification failure is a :class:`~payment_bridge.errors.SignatureError`.
"""

import base64
import binascii
import re
import secrets
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kernel.clock import require_aware
from payment_bridge.errors import SignatureError

SCHEME = "WECHATPAY2-SHA256-RSA2048"
MAX_SKEW_SECONDS = 300
HEADER_TIMESTAMP = "Wechatpay-Timestamp"
HEADER_NONCE = "Wechatpay-Nonce"
HEADER_SIGNATURE = "Wechatpay-Signature"
HEADER_SERIAL = "Wechatpay-Serial"
HEADER_SIGNATURE_TYPE = "Wechatpay-Signature-Type"

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,64}")  # nonces and serials
_MAX_SIGNATURE_CHARS = 1024
_AUTH_PARAM = re.compile(r'([a-z_]{1,16})="([^"\\\x00-\x1f]{0,1024})"')
_AUTH_KEYS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")

PublicKeyInput = str | bytes | rsa.RSAPublicKey
PrivateKeyInput = str | bytes | rsa.RSAPrivateKey


def load_private_key(key: PrivateKeyInput) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (str or bytes) or an already loaded key."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key
    data = key.encode("ascii") if isinstance(key, str) else key
    loaded = serialization.load_pem_private_key(data, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError("WeChat Pay keys must be RSA")
    return loaded


def load_public_key(key: PublicKeyInput) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM public key, a PEM platform certificate, or a key."""
    if isinstance(key, rsa.RSAPublicKey):
        return key
    data = key.encode("ascii") if isinstance(key, str) else bytes(key)
    if b"-----BEGIN CERTIFICATE-----" in data:
        loaded = x509.load_pem_x509_certificate(data).public_key()
    else:
        loaded = serialization.load_pem_public_key(data)
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise ValueError("WeChat Pay keys must be RSA")
    return loaded


def new_nonce() -> str:
    """A fresh 32-character nonce, as WeChat's own SDKs make them."""
    return secrets.token_hex(16).upper()


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def sign_message(private_key: PrivateKeyInput, timestamp: str | int, nonce: str, body: bytes | str) -> str:
    """Base64 SHA256withRSA signature of ``timestamp\\nnonce\\nbody\\n``."""
    message = f"{timestamp}\n{nonce}\n".encode() + _as_bytes(body) + b"\n"
    return _sign(private_key, message)


def _sign(private_key: PrivateKeyInput, message: bytes) -> str:
    signature = load_private_key(private_key).sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def _verify(public_key: PublicKeyInput, signature_b64: str, message: bytes) -> None:
    if not isinstance(signature_b64, str) or len(signature_b64) > _MAX_SIGNATURE_CHARS:
        raise SignatureError("signature missing or too long")
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        load_public_key(public_key).verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, UnsupportedAlgorithm, binascii.Error, ValueError, TypeError):
        raise SignatureError("signature does not verify") from None


def _now_seconds(now: datetime | float | None) -> float:
    if now is None:
        return _time.time()
    if isinstance(now, datetime):
        return require_aware(now, field="now").timestamp()
    return float(now)


def check_timestamp(
    timestamp: str, now: datetime | float | None = None, *, max_skew: int = MAX_SKEW_SECONDS
) -> None:
    """Refuse a timestamp more than ``max_skew`` seconds from ``now`` (replay guard)."""
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("timestamp missing or not an integer")
    if abs(_now_seconds(now) - int(timestamp)) > max_skew:
        raise SignatureError("timestamp outside the accepted window")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup; a header given twice with different values is refused."""
    wanted = name.lower()
    found = {value for key, value in headers.items() if key.lower() == wanted}
    if len(found) > 1:
        raise SignatureError(f"header {name} given more than once")
    return found.pop() if found else None


def _pick_key(keys: Mapping[str, PublicKeyInput], serial: str) -> PublicKeyInput:
    # Certificate serials are hex; compare without regard to case.
    matches = [key for known, key in keys.items() if known.upper() == serial.upper()]
    if len(matches) != 1:
        raise SignatureError("unknown key serial")
    return matches[0]


def signed_headers(
    private_key: PrivateKeyInput,
    serial: str,
    body: bytes | str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers WeChat puts on a callback or an API response."""
    stamp = str(int(_time.time()) if timestamp is None else timestamp)
    nonce = nonce or new_nonce()
    return {
        HEADER_TIMESTAMP: stamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign_message(private_key, stamp, nonce, body),
        HEADER_SERIAL: serial,
        HEADER_SIGNATURE_TYPE: SCHEME,
    }


def verify_signed_headers(
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    platform_keys: Mapping[str, PublicKeyInput],
    now: datetime | float | None = None,
) -> str:
    """Verify a WeChat-signed callback or response; return the serial that signed it."""
    values = {
        name: header(headers, name)
        for name in (HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SERIAL)
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    signature_type = header(headers, HEADER_SIGNATURE_TYPE)
    if signature_type is not None and signature_type != SCHEME:
        raise SignatureError("unsupported signature type")
    serial, nonce = values[HEADER_SERIAL], values[HEADER_NONCE]
    if not _TOKEN.fullmatch(serial) or not _TOKEN.fullmatch(nonce):
        raise SignatureError("malformed serial or nonce")
    check_timestamp(values[HEADER_TIMESTAMP], now)
    key = _pick_key(platform_keys, serial)
    message = f"{values[HEADER_TIMESTAMP]}\n{nonce}\n".encode() + _as_bytes(body) + b"\n"
    _verify(key, values[HEADER_SIGNATURE], message)
    return serial


@dataclass(frozen=True)
class Authorization:
    """The parameters of a request's ``Authorization`` header."""

    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str


def _request_message(method: str, url: str, timestamp: str, nonce: str, body: bytes | str) -> bytes:
    return f"{method.upper()}\n{url}\n{timestamp}\n{nonce}\n".encode() + _as_bytes(body) + b"\n"


def build_authorization(
    *,
    mchid: str,
    serial_no: str,
    private_key: PrivateKeyInput,
    method: str,
    url: str,
    body: bytes | str = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The ``Authorization`` header value for a merchant API request.

    ``url`` is the absolute path with its query string, e.g.
    ``/v3/pay/transactions/out-trade-no/X?mchid=1900000001``; ``body`` empty for GET.
    """
    stamp = str(int(_time.time()) if timestamp is None else timestamp)
    nonce = nonce or new_nonce()
    signature = _sign(private_key, _request_message(method, url, stamp, nonce, body))
    return (
        f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{stamp}",serial_no="{serial_no}"'
    )


def parse_authorization(value: str) -> Authorization:
    """Split an ``Authorization`` header into its five parameters, strictly."""
    if not isinstance(value, str) or len(value) > 4096 or not value.startswith(SCHEME + " "):
        raise SignatureError("authorization scheme must be " + SCHEME)
    params: dict[str, str] = {}
    for part in value[len(SCHEME) + 1 :].split(","):
        match = _AUTH_PARAM.fullmatch(part.strip())
        if match is None or match.group(1) in params:
            raise SignatureError("malformed authorization parameter")
        params[match.group(1)] = match.group(2)
    if sorted(params) != sorted(_AUTH_KEYS):
        raise SignatureError("authorization must carry exactly " + ", ".join(_AUTH_KEYS))
    return Authorization(**params)


def verify_authorization(
    value: str,
    *,
    method: str,
    url: str,
    body: bytes | str,
    merchant_keys: Mapping[str, PublicKeyInput],
    now: datetime | float | None = None,
    expected_mchid: str | None = None,
) -> Authorization:
    """Verify a merchant request (the simulator's side); return its parameters.

    The signature does not cover ``mchid``; pass ``expected_mchid`` (the owner of
    the serial's key) so a request cannot claim another merchant.
    """
    auth = parse_authorization(value)
    if expected_mchid is not None and auth.mchid != expected_mchid:
        raise SignatureError("mchid does not own the signing key")
    if not _TOKEN.fullmatch(auth.nonce_str) or not _TOKEN.fullmatch(auth.serial_no):
        raise SignatureError("malformed nonce or serial")
    check_timestamp(auth.timestamp, now)
    key = _pick_key(merchant_keys, auth.serial_no)
    _verify(key, auth.signature, _request_message(method, url, auth.timestamp, auth.nonce_str, body))
    return auth


def jsapi_pay_params(
    *,
    appid: str,
    prepay_id: str,
    private_key: PrivateKeyInput,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The parameters a JSAPI page passes to ``WeixinJSBridge`` to start payment."""
    stamp = str(int(_time.time()) if timestamp is None else timestamp)
    nonce = nonce or new_nonce()
    package = f"prepay_id={prepay_id}"
    message = f"{appid}\n{stamp}\n{nonce}\n{package}\n".encode()
    return {
        "appId": appid,
        "timeStamp": stamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": _sign(private_key, message),
    }
