"""WeChat Pay: several platform keys at once (rotation, public-key mode), cross-checked against an
independent implementation, the `wechatpayv3` package (PyPI, minibear2021/wechatpayv3), the way the
SM4 code is checked against gmssl. Our simulator signs with our own code, so a misreading of the
rules would pass on both sides; here the other side is somebody else's reading.

Public-key mode: since 2024 new merchants verify with a "微信支付公钥" whose id is
``PUB_KEY_ID_`` + digits (sent as ``Wechatpay-Serial``) instead of a platform certificate serial;
during the switch both are in use, so both must verify at once.
"""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from wechatpayv3 import utils as wx_utils
from wechatpayv3.core import Core as WxCore

from config.settings import Settings
from payment_bridge.channels.wechatpay import (
    build_authorization,
    build_notification,
    decrypt_resource,
    encrypt_resource,
    parse_notification,
    signed_headers,
    verify_authorization,
    verify_signed_headers,
)
from payment_bridge.errors import SignatureError
from payment_bridge.profiles import ProfileError, load_profiles

CERT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
MCHID = "1900000001"
API_V3_KEY = "devonlyAPIv3key0123456789abcdefg"  # 32 bytes


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _public_pem(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def old_platform():
    return _key()


@pytest.fixture(scope="module")
def new_platform():
    return _key()


@pytest.fixture(scope="module")
def merchant():
    return _key()


# --- request signing ------------------------------------------------------------------------------

def test_our_request_signature_is_byte_for_byte_wechatpayv3s(merchant):
    """PKCS#1 v1.5 is deterministic: the same message gives the same signature, so equal bytes mean
    the same signing string (method, path with query, timestamp, nonce, body, each + \\n)."""
    body = json.dumps({"mchid": MCHID, "out_trade_no": "34010024300000000123"}, separators=(",", ":"))
    url = "/v3/pay/transactions/native"
    ours = build_authorization(mchid=MCHID, serial_no=CERT_SERIAL, private_key=merchant, method="POST", url=url,
                               body=body, timestamp=1_704_420_900, nonce="593BEC0C930BF1AFEB40B4A08C8FB242")
    theirs = wx_utils.rsa_sign(merchant, f"POST\n{url}\n1704420900\n593BEC0C930BF1AFEB40B4A08C8FB242\n{body}\n")
    assert f'signature="{theirs}"' in ours


def test_wechatpayv3s_authorization_verifies_with_ours(merchant):
    url = "/v3/pay/transactions/out-trade-no/34010024300000000123?mchid=1900000001"
    header = wx_utils.build_authorization(url, "GET", MCHID, CERT_SERIAL, merchant)
    auth = verify_authorization(header, method="GET", url=url, body=b"",
                                merchant_keys={CERT_SERIAL: _public_pem(merchant)}, expected_mchid=MCHID)
    assert auth.serial_no == CERT_SERIAL
    with pytest.raises(SignatureError):
        verify_authorization(header, method="GET", url=url + "&x=1", body=b"",
                             merchant_keys={CERT_SERIAL: _public_pem(merchant)})


# --- response and notification signatures ---------------------------------------------------------

@pytest.mark.parametrize("serial", [CERT_SERIAL, PUB_KEY_ID])
def test_our_signed_headers_verify_with_wechatpayv3(old_platform, serial):
    body = '{"code":"SUCCESS"}'
    headers = signed_headers(old_platform, serial, body)
    assert wx_utils.rsa_verify(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], body,
                               headers["Wechatpay-Signature"], old_platform.public_key())


def test_wechatpayv3s_signature_verifies_with_ours(old_platform):
    body, stamp, nonce = '{"id":"EV-1"}', str(int(time.time())), "N" * 32
    signature = wx_utils.rsa_sign(old_platform, f"{stamp}\n{nonce}\n{body}\n")
    headers = {"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
               "Wechatpay-Serial": PUB_KEY_ID, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}
    assert verify_signed_headers(headers, body, platform_keys={PUB_KEY_ID: _public_pem(old_platform)}) == PUB_KEY_ID


def test_our_notification_is_verified_and_decrypted_by_wechatpayv3_in_public_key_mode(new_platform, merchant):
    """wechatpayv3's Core in public-key mode: verify the headers, decrypt AEAD_AES_256_GCM."""
    resource = {"out_trade_no": "34010024300000000123", "trade_state": "SUCCESS", "amount": {"total": 12030}}
    headers, body = build_notification(private_key=new_platform, serial=PUB_KEY_ID, api_v3_key=API_V3_KEY,
                                       resource=resource)
    core = WxCore(MCHID, CERT_SERIAL, _private_pem(merchant), API_V3_KEY, public_key=_public_pem(new_platform),
                  public_key_id=PUB_KEY_ID)
    assert json.loads(core.decrypt_callback(headers, body)) == resource
    forged = dict(headers, **{"Wechatpay-Signature": base64.b64encode(b"x" * 256).decode()})
    assert core.decrypt_callback(forged, body) is None


def test_aes_gcm_both_ways():
    plaintext = '{"out_refund_no":"RF-1","refund_status":"SUCCESS"}'
    sealed = encrypt_resource(API_V3_KEY, plaintext, "fdasflkja484", "refund", original_type="refund")
    assert wx_utils.aes_decrypt(sealed["nonce"], sealed["ciphertext"], sealed["associated_data"], API_V3_KEY) \
        == plaintext
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # WeChat's side, written independently

    theirs = base64.b64encode(AESGCM(API_V3_KEY.encode()).encrypt(b"0123456789ab", plaintext.encode(),
                                                                  b"transaction")).decode()
    resource = {"algorithm": "AEAD_AES_256_GCM", "ciphertext": theirs, "nonce": "0123456789ab",
                "associated_data": "transaction"}
    assert decrypt_resource(API_V3_KEY, resource) == plaintext.encode()
    assert wx_utils.aes_decrypt("0123456789ab", theirs, "transaction", API_V3_KEY) == plaintext


# --- several platform keys at once (rotation, public-key mode) ------------------------------------

def test_during_a_rotation_both_keys_verify_and_others_do_not(old_platform, new_platform):
    keys = {CERT_SERIAL: _public_pem(old_platform), PUB_KEY_ID: _public_pem(new_platform)}
    for key, serial in ((old_platform, CERT_SERIAL), (new_platform, PUB_KEY_ID)):
        headers, body = build_notification(private_key=key, serial=serial, api_v3_key=API_V3_KEY,
                                           resource={"out_trade_no": "X"})
        assert parse_notification(headers, body, platform_keys=keys, api_v3_key=API_V3_KEY)["out_trade_no"] == "X"
    # a key signing under the other one's serial is refused
    headers, body = build_notification(private_key=old_platform, serial=PUB_KEY_ID, api_v3_key=API_V3_KEY,
                                       resource={"out_trade_no": "X"})
    with pytest.raises(SignatureError):
        parse_notification(headers, body, platform_keys=keys, api_v3_key=API_V3_KEY)


def _write(tmp_path, name, key) -> str:
    path = tmp_path / name
    path.write_text(_public_pem(key))
    return str(path)


def test_profile_loads_extra_platform_keys(tmp_path, old_platform, new_platform):
    extra = f"{PUB_KEY_ID}={_write(tmp_path, 'pub.pem', new_platform)}"
    profiles = load_profiles(Settings(wechatpay_platform_key_file=_write(tmp_path, "old.pem", old_platform),
                                      wechatpay_platform_extra_keys=extra))
    keys = profiles.wechatpay.platform_keys()
    assert set(keys) == {Settings().wechatpay_platform_serial, PUB_KEY_ID}
    headers, body = build_notification(private_key=new_platform, serial=PUB_KEY_ID, api_v3_key=API_V3_KEY,
                                       resource={"out_trade_no": "Y"})
    assert parse_notification(headers, body, platform_keys=keys, api_v3_key=API_V3_KEY)["out_trade_no"] == "Y"


@pytest.mark.parametrize("extra", ["PUB_KEY_ID_12=", "not a serial=/x.pem", "PUB_KEY_ID_X1=/x.pem",
                                   "5157F09EFDC096DE15EBE81A47057A7232F1B8E1=/x.pem"])
def test_profile_refuses_bad_extra_platform_keys(tmp_path, extra):
    with pytest.raises(ProfileError, match="GOVLINK_WECHATPAY_PLATFORM_EXTRA_KEYS"):
        load_profiles(Settings(wechatpay_platform_extra_keys=extra))

