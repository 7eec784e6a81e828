"""XML with a DTD, external entities (file, network) and billion laughs, sent to every endpoint that
reads XML: the non-tax payment callback (with and without a valid MAC, so the parser itself is
tested, not only the MAC in front of it), the other callbacks (which must refuse XML outright), and
the SOAP client's parser (zeep, for what a department system answers). Nothing may be stored: the
targeted notice stays unpaid, with no confirmation."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import zeep.exceptions
import zeep.loader

from connectors.soap import zeep_settings
from kernel.clock import beijing_today
from payment_bridge.channels.nontax import http_headers
from payment_bridge.channels.nontax.confirmation import Confirmation, build_confirmation
from payment_bridge.channels.nontax.envelope import CfxHead
from payment_bridge.channels.nontax.replies import parse_confirmation_answer
from tests.security.conftest import rows

PROLOG = b'<?xml version="1.0" encoding="GBK"?>'
DTDS = {
    "internal_dtd": b'<!DOCTYPE CFX [<!ELEMENT CFX ANY>]>',
    "external_file": b'<!DOCTYPE CFX [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    "external_http": b'<!DOCTYPE CFX [<!ENTITY xxe SYSTEM "http://127.0.0.1:1/">]>',
    "parameter_entity": b'<!DOCTYPE CFX [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]>',
    "billion_laughs": b'<!DOCTYPE CFX [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                      b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
                      b'<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
                      b'<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>',
}
ENTITY_USE = {"external_file": b"&xxe;", "external_http": b"&xxe;", "billion_laughs": b"&h;"}


def hostile_confirmation(notice: dict, kind: str, platform_node: str, agency_node: str) -> bytes:
    """A genuine 5996 confirmation of `notice`, with a DTD after the prolog and its entity in TraNoBus."""
    head = CfxHead(src=platform_node, des=agency_node, msg_id=uuid.uuid4().hex, work_date=beijing_today())
    tra_no = f"SEC{uuid.uuid4().hex[:20]}"
    body = build_confirmation(head, Confirmation(pay_code=notice["payment_code"],
                                                 confirmed_at=datetime.now(timezone.utc).replace(microsecond=0),
                                                 amount_fen=notice["total_fen"], pay_mode="3", tra_no_bus=tra_no))
    assert body.startswith(PROLOG)
    rest = body[len(PROLOG):]
    if kind in ENTITY_USE:
        rest = rest.replace(tra_no.encode(), ENTITY_USE[kind])
    return PROLOG + DTDS[kind] + rest


def _nontax(sec):
    return sec.service.platforms["nontax"].profile


def _untouched(sec, db, notice):
    assert rows(db, "SELECT 1 FROM payment_confirmations WHERE notice_id = :n", n=notice["id"]) == 0
    assert sec.service.get(notice["id"]).status == "registered"


@pytest.mark.parametrize("signed", [True, False], ids=["valid-mac", "no-mac"])
@pytest.mark.parametrize("kind", sorted(DTDS))
def test_nontax_callback_refuses_dtds_and_entities(sec, db, registered_notice, kind, signed):
    profile = _nontax(sec)
    raw = hostile_confirmation(registered_notice, kind, profile.platform_node, profile.node)
    headers = http_headers(raw, profile.mac_token) if signed else {"Content-Type": "text/xml; charset=GBK"}
    r = sec.client.post("/callbacks/payments/nontax", data=raw, headers=headers)
    # The platform's protocol: HTTP 200 carrying an 8001 answer, Result 99999, `Information` = "<code>: <message>";
    # the answer is MAC-signed so the platform can trust the refusal.
    assert r.status_code == 200 and r.mimetype == "text/xml"
    answer = parse_confirmation_answer(r.get_data(), r.headers["X-CFX-MAC"], profile.mac_token).body
    expected = "invalid_message" if signed else "signature_invalid"
    print(f"{kind} ({'signed' if signed else 'unsigned'}) -> {answer.result} {answer.information}")
    assert answer.result == "99999" and answer.information.startswith(f"{expected}:"), answer
    if signed:
        assert "DTD" in answer.information
    assert b"root:" not in r.get_data()  # /etc/passwd never echoed
    _untouched(sec, db, registered_notice)


def test_a_genuine_confirmation_would_have_been_applied(sec, registered_notice):
    """Control: the same message without the DTD passes the MAC and the parser (so the refusals above
    are about the DTD), checked without applying it: parsing only."""
    from payment_bridge.channels.nontax.confirmation import parse_confirmation

    profile = _nontax(sec)
    raw = hostile_confirmation(registered_notice, "internal_dtd", profile.platform_node, profile.node)
    clean = raw.replace(DTDS["internal_dtd"], b"")
    message = parse_confirmation(clean, http_headers(clean, profile.mac_token)["X-CFX-MAC"], profile.mac_token,
                                 profile=sec.service.platforms["nontax"].code_profile)
    assert message.body.pay_code == registered_notice["payment_code"]


@pytest.mark.parametrize("path", ["/callbacks/payments/wechatpay", "/callbacks/logistics/sf",
                                  "/callbacks/logistics/ems", "/callbacks/logistics/kuaidi100"])
@pytest.mark.parametrize("kind", ["external_file", "billion_laughs"])
def test_json_and_form_callbacks_refuse_xml(sec, db, registered_notice, path, kind):
    raw = PROLOG.replace(b"GBK", b"UTF-8") + DTDS[kind] + b"<CFX>" + ENTITY_USE[kind] + b"</CFX>"
    r = sec.client.post(path, data=raw, headers={"Content-Type": "application/xml"})
    print(f"{path} {kind} -> {r.status_code} {r.get_data(as_text=True)[:120]}")
    assert 400 <= r.status_code < 500, r.get_data(as_text=True)
    assert b"root:" not in r.get_data() and b"lollol" not in r.get_data()
    _untouched(sec, db, registered_notice)


@pytest.mark.parametrize("kind", sorted(DTDS))
def test_soap_client_parser_refuses_dtds_and_entities(kind):
    """What a (compromised) department system answers over SOAP goes through zeep with these settings."""
    envelope = (b'<?xml version="1.0" encoding="UTF-8"?>' + DTDS[kind]
                + b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><r>'
                + ENTITY_USE.get(kind, b"x") + b"</r></soap:Body></soap:Envelope>")
    # libxml2 stops billion laughs itself (amplification limit) before zeep looks at the DTD
    refused = (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden, zeep.exceptions.XMLSyntaxError)
    with pytest.raises(refused) as exc:
        zeep.loader.parse_xml(envelope, None, settings=zeep_settings())
    print(f"{kind} -> {type(exc.value).__name__}")
