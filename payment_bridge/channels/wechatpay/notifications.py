"""WeChat Pay API v3 callbacks (支付通知 / 退款通知): verify, decrypt, and build.

A callback body is JSON ``{id, create_time, event_type, resource_type, summary,
resource{algorithm, ciphertext, nonce, associated_data, original_type}}``; the
resource is AES-256-GCM under the merchant's 32-byte APIv3 key, the 16-byte tag
appended to the ciphertext, all base64. The signature is checked on the raw body
before anything is decoded. WeChat retries for about 24 h, so the same ``id``
arrives more than once: deduplicate on it downstream.
"""

import base64
import binascii
import json
import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kernel.clock import to_beijing
from payment_bridge.channels.wechatpay.signing import (
    PrivateKeyInput,
    PublicKeyInput,
    signed_headers,
    verify_signed_headers,
)
from payment_bridge.errors import SignatureError

ALGORITHM = "AEAD_AES_256_GCM"
MAX_BODY_BYTES = 64 * 1024
EVENT_TRANSACTION_SUCCESS = "TRANSACTION.SUCCESS"
EVENT_REFUND_SUCCESS = "REFUND.SUCCESS"
EVENT_REFUND_ABNORMAL = "REFUND.ABNORMAL"
EVENT_REFUND_CLOSED = "REFUND.CLOSED"


@dataclass(frozen=True)
class NotificationEvent:
    """A verified, decrypted callback: the event's envelope plus its plaintext resource."""

    id: str
    create_time: datetime  # aware, UTC
    event_type: str
    resource_type: str
    summary: str
    resource: dict


def _api_v3_key(key: str | bytes) -> bytes:
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(data) != 32:
        raise ValueError("the APIv3 key must be 32 bytes")
    return data


def encrypt_resource(
    api_v3_key: str | bytes,
    plaintext: bytes | str,
    nonce: str,
    associated_data: str,
    *,
    original_type: str = "transaction",
) -> dict:
    """Encrypt a resource as WeChat does (the simulator uses this)."""
    data = plaintext.encode("utf-8") if isinstance(plaintext, str) else bytes(plaintext)
    sealed = AESGCM(_api_v3_key(api_v3_key)).encrypt(
        nonce.encode("utf-8"), data, associated_data.encode("utf-8")
    )
    return {
        "original_type": original_type,
        "algorithm": ALGORITHM,
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def decrypt_resource(api_v3_key: str | bytes, resource: Mapping) -> bytes:
    """Decrypt a callback resource; any defect raises :class:`SignatureError`."""
    key = _api_v3_key(api_v3_key)
    try:
        if resource.get("algorithm") != ALGORITHM:
            raise SignatureError("unsupported resource algorithm")
        nonce, associated = resource["nonce"], resource.get("associated_data") or ""
        if not isinstance(nonce, str) or not isinstance(associated, str) or not 8 <= len(nonce) <= 64:
            raise SignatureError("malformed resource nonce or associated data")
        sealed = base64.b64decode(resource["ciphertext"], validate=True)
        return AESGCM(key).decrypt(nonce.encode("utf-8"), sealed, associated.encode("utf-8"))
    except SignatureError:
        raise
    except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error, AttributeError):
        raise SignatureError("resource does not decrypt") from None


def parse_notification_event(
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    platform_keys: Mapping[str, PublicKeyInput],
    api_v3_key: str | bytes,
    now: datetime | float | None = None,
) -> NotificationEvent:
    """Verify the signature on the raw body, then decode and decrypt the callback."""
    key = _api_v3_key(api_v3_key)  # a wrong-length key is configuration, not forgery: ValueError
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if len(raw) > MAX_BODY_BYTES:
        raise SignatureError("notification body too large")
    verify_signed_headers(headers, raw, platform_keys=platform_keys, now=now)
    try:
        envelope = json.loads(raw.decode("utf-8"))
        resource_plain = decrypt_resource(key, envelope["resource"])
        resource = json.loads(resource_plain.decode("utf-8"))
        if not isinstance(resource, dict):
            raise ValueError("resource is not an object")
        created = datetime.fromisoformat(envelope["create_time"])
        if created.tzinfo is None:
            raise ValueError("create_time without offset")
        fields = {name: envelope[name] for name in ("id", "event_type", "resource_type")}
        if not all(isinstance(value, str) and value for value in fields.values()):
            raise ValueError("id, event_type and resource_type must be strings")
        return NotificationEvent(
            id=fields["id"],
            create_time=created.astimezone(UTC),
            event_type=fields["event_type"],
            resource_type=fields["resource_type"],
            summary=str(envelope.get("summary", "")),
            resource=resource,
        )
    except SignatureError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise SignatureError("notification body is malformed") from None


def parse_notification(
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    platform_keys: Mapping[str, PublicKeyInput],
    api_v3_key: str | bytes,
    now: datetime | float | None = None,
) -> dict:
    """Verify and decrypt a callback; return its decrypted resource.

    Raises :class:`SignatureError` on any failure: missing header, unknown serial,
    bad signature, stale timestamp, decryption failure or malformed JSON.
    """
    return parse_notification_event(
        headers, body, platform_keys=platform_keys, api_v3_key=api_v3_key, now=now
    ).resource


def _resource_nonce() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


def build_notification(
    *,
    private_key: PrivateKeyInput,
    serial: str,
    api_v3_key: str | bytes,
    resource: Mapping,
    event_type: str = EVENT_TRANSACTION_SUCCESS,
    summary: str = "支付成功",
    notification_id: str | None = None,
    create_time: datetime | None = None,
    timestamp: int | None = None,
    nonce: str | None = None,
    resource_nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """Build a callback exactly as WeChat sends it: (headers, raw JSON body).

    ``event_type`` ``REFUND.*`` makes a refund callback (original_type and
    associated data ``refund``); otherwise a transaction callback.
    """
    kind = "refund" if event_type.startswith("REFUND.") else "transaction"
    plaintext = json.dumps(dict(resource), ensure_ascii=False, separators=(",", ":"))
    created = to_beijing(create_time or datetime.now(UTC)).replace(microsecond=0)
    envelope = {
        "id": notification_id or str(uuid.uuid4()),
        "create_time": created.isoformat(),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": encrypt_resource(
            api_v3_key, plaintext, resource_nonce or _resource_nonce(), kind, original_type=kind
        ),
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = signed_headers(private_key, serial, body, timestamp=timestamp, nonce=nonce)
    headers["Content-Type"] = "application/json"
    return headers, body
