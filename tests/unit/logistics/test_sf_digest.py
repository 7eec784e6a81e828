"""SF msgDigest and Java URLEncoder semantics."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logistics_bridge.carriers.sf import build_form, java_url_encode, msg_digest, verify_request
from logistics_bridge.errors import SignatureError

# SF's own worked example from its developer documentation (丰桥 开发规范 / 数字签名),
# http://qiao.sf-express.com/pages/developDoc/index.html?level2=922308 , as quoted with the
# same values by https://blog.csdn.net/senlinmu110/article/details/119953542 and
# https://juejin.cn/post/7098208508922822686 ("验证了js计算出的msgDigist和官方的示例一致").
SF_EXAMPLE_MSG_DATA = '{"language":"zh-CN","orderId":"QIAO-20200618-004"}'
SF_EXAMPLE_TIMESTAMP = "12312334453453"
SF_EXAMPLE_CHECK_WORD = "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci"
SF_EXAMPLE_DIGEST = "IIKJtuLVzoFTu4kHI8M8vA=="


def test_sf_published_digest_example():
    assert msg_digest(SF_EXAMPLE_MSG_DATA, SF_EXAMPLE_TIMESTAMP, SF_EXAMPLE_CHECK_WORD) == SF_EXAMPLE_DIGEST


# Expected values produced by java.net.URLEncoder.encode(s, "UTF-8") on OpenJDK 17.
@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("a b", "a+b"),
        ("*", "*"),
        ("~", "%7E"),
        ("-_.", "-_."),
        ("中文", "%E4%B8%AD%E6%96%87"),
        ("+&=/:?", "%2B%26%3D%2F%3A%3F"),
        ("!'()", "%21%27%28%29"),
        ("\U0001F600", "%F0%9F%98%80"),
        ("\ud800", "%3F"),  # a lone surrogate: Java substitutes '?'
        ("\ud800\udfff", "%F0%90%8F%BF"),  # two surrogates in a row are one char in Java
        ("", ""),
    ],
)
def test_java_url_encoder_edge_cases(text, encoded):
    assert java_url_encode(text) == encoded


def test_digest_depends_on_java_encoding_of_tilde_and_star():
    # Python's quote_plus keeps '~'; Java does not. The digest must follow Java.
    a = msg_digest('{"remark":"~"}', "1", "cw")
    b = msg_digest('{"remark":"%7E"}', "1", "cw")
    assert a != b
    assert java_url_encode('{"remark":"~*"}').endswith("%7E*%22%7D")


_JAVA_SOURCE = """
import java.io.*;
import java.net.URLEncoder;
public class UrlEnc {
  public static void main(String[] a) throws Exception {
    BufferedReader r = new BufferedReader(new InputStreamReader(System.in, "US-ASCII"));
    String line;
    while ((line = r.readLine()) != null) {
      StringBuilder sb = new StringBuilder();
      for (String h : line.trim().split(" ")) if (!h.isEmpty()) sb.append((char) Integer.parseInt(h, 16));
      System.out.println(URLEncoder.encode(sb.toString(), "UTF-8"));
    }
  }
}
"""


def _utf16_units(text: str) -> str:
    raw = text.encode("utf-16-be", errors="surrogatepass")
    return " ".join(f"{int.from_bytes(raw[i:i + 2], 'big'):04X}" for i in range(0, len(raw), 2))


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK to run java.net.URLEncoder")
def test_java_url_encoder_matches_the_jdk(tmp_path):
    """Independent check: the JDK's own URLEncoder over a seeded random corpus."""
    rng = random.Random(20240315)
    alphabet = (
        [chr(c) for c in range(0x20, 0x7F)]
        + list("中文签收顺丰邮政，。【】：“”￥")
        + ["\u00e9", "\u00a0", "\u2028", "\U0001F600", "\U00020000", "\ud800", "\udfff", "\t", "\n"]
    )
    corpus = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(400)]
    source = tmp_path / "UrlEnc.java"
    source.write_text(_JAVA_SOURCE)
    lines = "\n".join(_utf16_units(text) for text in corpus) + "\n"
    result = subprocess.run(
        ["java", str(source)], input=lines, capture_output=True, text=True, timeout=120, check=True
    )
    expected = result.stdout.splitlines()
    assert len(expected) == len(corpus)
    for text, java in zip(corpus, expected):
        assert java_url_encode(text) == java, repr(text)


@given(st.text())
def test_encoded_text_is_plain_ascii_without_reserved_characters(text):
    encoded = java_url_encode(text)
    assert encoded.isascii()
    assert not set(encoded) & set(" ~!'()&=/:?#")


def _form(msg_data=SF_EXAMPLE_MSG_DATA, check_word=SF_EXAMPLE_CHECK_WORD, timestamp_ms=1_700_000_000_000):
    return build_form(
        partner_id="GOVLINK",
        request_id="3f1e0a52-0000-4000-8000-000000000001",
        service_code="EXP_RECE_CREATE_ORDER",
        timestamp_ms=timestamp_ms,
        msg_data=msg_data,
        check_word=check_word,
    )


def test_build_form_has_the_six_fields_and_verifies():
    form = _form()
    assert set(form) == {"partnerID", "requestID", "serviceCode", "timestamp", "msgData", "msgDigest"}
    assert form["timestamp"] == "1700000000000"
    assert verify_request(form, SF_EXAMPLE_CHECK_WORD) == {"language": "zh-CN", "orderId": "QIAO-20200618-004"}


def test_verify_refuses_wrong_check_word_tampering_and_staleness():
    form = _form()
    with pytest.raises(SignatureError, match="digest refused") as wrong:
        verify_request(form, "another-check-word")
    assert wrong.value.code == "bad_signature"
    tampered = dict(form, msgData=form["msgData"].replace("004", "005"))
    with pytest.raises(SignatureError, match="digest refused"):
        verify_request(tampered, SF_EXAMPLE_CHECK_WORD)
    with pytest.raises(SignatureError) as stale:
        verify_request(form, SF_EXAMPLE_CHECK_WORD, now_ms=1_700_000_000_000 + 11 * 60 * 1000)
    assert stale.value.code == "expired"
    with pytest.raises(SignatureError) as missing:
        verify_request({k: v for k, v in form.items() if k != "msgDigest"}, SF_EXAMPLE_CHECK_WORD)
    assert missing.value.code == "malformed"


def test_secret_not_in_errors():
    form = _form()
    with pytest.raises(SignatureError) as exc:
        verify_request(form, "s3cret-check-word")
    assert "s3cret" not in str(exc.value)
