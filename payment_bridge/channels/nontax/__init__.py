"""Provincial non-tax platform (非税收入) message set, modelled on the Jiangsu "非税增强接口".

Pure builders and parsers for both sides of every exchange, so our adapter and the
simulator that plays the platform share one definition:

==========  ==================  ===============================================
request     answer              module
==========  ==================  ===============================================
8994        5001                :mod:`.notice` / :mod:`.replies` payment notice
5996        8001                :mod:`.confirmation` / :mod:`.replies`
8997        5997                :mod:`.query` status query
8999        5999                :mod:`.receipt` fiscal e-receipt
8998        5998                :mod:`.refund` refund (our model)
==========  ==================  ===============================================

Transport (our decision; the province publishes none): every message, request or
answer, is the body of an HTTP POST or its response, the raw GBK XML bytes with
``Content-Type: text/xml; charset=GBK``, and its MAC travels in the HTTP header
``X-CFX-MAC`` as 64 hex characters. A header rather than a form field, because
the MAC covers the exact bytes: form-encoding the XML would need a decode step
before verification, and any normalisation there would break or, worse, hide a
mismatch. The receiver checks size and MAC on the raw body before any parsing
(:func:`.envelope.parse_envelope`); see :mod:`.safe_xml` for the XML defences.
"""

from payment_bridge.channels.nontax.mac import sign, verify

MAC_HEADER = "X-CFX-MAC"
CONTENT_TYPE = "text/xml; charset=GBK"


def http_headers(xml_bytes: bytes, token: str | bytes) -> dict[str, str]:
    """The HTTP headers that carry a built message: content type and its MAC."""
    return {"Content-Type": CONTENT_TYPE, MAC_HEADER: sign(xml_bytes, token)}


__all__ = ["CONTENT_TYPE", "MAC_HEADER", "http_headers", "sign", "verify"]
