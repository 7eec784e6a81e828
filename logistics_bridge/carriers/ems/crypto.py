"""EMS payload sealing: ``logitcsInterface = "|$4|" + Base64(SM4-ECB-PKCS5(json + signKey))``.

The SM4 key is the Base64-decoded signKey (16 bytes); the plaintext is the JSON text
followed by the signKey text itself, which the receiver checks and strips. (Field name
``logitcsInterface`` is EMS's own spelling.) ECB gives no integrity: a payload that
decrypts is from someone holding the key *or* cut and pasted from earlier traffic, so
pushes opened here are not trusted on their own.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from logistics_bridge.carriers.ems.units import CARRIER, SEALED_PREFIX
from logistics_bridge.errors import LogisticsError, SignatureError


def sm4_key(sign_key: str) -> bytes:
    """The 16-byte SM4 key inside a Base64 signKey; a wrong key is a settings error."""
    try:
        key = base64.b64decode(sign_key, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16:
        raise LogisticsError("EMS signKey must be Base64 of 16 bytes", code="bad_config")
    return key


def sm4_ecb_encrypt(key: bytes, plaintext: bytes) -> bytes:
    """SM4-ECB with PKCS#5/7 padding (Java's ``SM4/ECB/PKCS5Padding``)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def sm4_ecb_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`sm4_ecb_encrypt`; raises ``ValueError`` on bad length or padding."""
    if not ciphertext or len(ciphertext) % 16:
        raise ValueError("ciphertext is not a whole number of blocks")
    decryptor = Cipher(algorithms.SM4(key), modes.ECB()).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def seal(payload_json: str, sign_key: str) -> str:
    """Encrypt a JSON text into a ``logitcsInterface`` value."""
    ciphertext = sm4_ecb_encrypt(sm4_key(sign_key), (payload_json + sign_key).encode("utf-8"))
    return SEALED_PREFIX + base64.b64encode(ciphertext).decode("ascii")


def open_sealed(value: str, sign_key: str, *, require_sign_key: bool = True) -> str:
    """Decrypt a ``logitcsInterface`` value and return its JSON text.

    With ``require_sign_key`` the plaintext must end with the signKey (requests we
    receive as the simulator); without it a trailing signKey is stripped if present
    (EMS pushes have been seen both ways). Raises :class:`SignatureError`.
    """
    if not value.startswith(SEALED_PREFIX):
        raise SignatureError("logitcsInterface lacks the |$4| prefix", carrier=CARRIER, code="malformed")
    key = sm4_key(sign_key)
    try:
        ciphertext = base64.b64decode(value[len(SEALED_PREFIX) :], validate=True)
        text = sm4_ecb_decrypt(key, ciphertext).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise SignatureError("logitcsInterface does not decrypt with our key", carrier=CARRIER) from None
    if text.endswith(sign_key):
        return text[: -len(sign_key)]
    if require_sign_key:
        raise SignatureError("logitcsInterface does not end with the signKey", carrier=CARRIER)
    return text
