"""Hostile-safe parsing of GBK XML from the non-tax platform.

Defences, in order: a size limit; a strict GBK prolog (so a byte scan for markup
is sound: in GBK the byte ``<`` is never part of a two-byte character, and no
other encoding such as UTF-16 can hide a DOCTYPE); strict GBK decoding; refusal
of any DOCTYPE or ENTITY declaration (which stops billion-laughs and external
entities before libxml2 sees them); then lxml with entity resolution, DTD loading
and network access off, comments and processing instructions dropped.
"""

import re

from lxml import etree

from payment_bridge.errors import InvalidMessage

MAX_MESSAGE_BYTES = 256 * 1024

_PROLOG = re.compile(
    rb"""<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.0\1[ \t\r\n]+"""
    rb"""encoding[ \t\r\n]*=[ \t\r\n]*(["'])(?:GBK|gbk)\2[ \t\r\n]*\?>"""
)
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not safe to share across threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_gbk_xml(raw: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> etree._Element:
    """Parse a GBK XML document from untrusted bytes and return its root element.

    Raises :class:`InvalidMessage` for anything too big, not GBK, carrying a DTD or
    entity declaration, or not well-formed.
    """
    if not isinstance(raw, (bytes, bytearray)):
        raise InvalidMessage("message must be bytes")
    raw = bytes(raw)
    if len(raw) > max_bytes:
        raise InvalidMessage(f"message larger than {max_bytes} bytes")
    if _PROLOG.match(raw) is None:
        raise InvalidMessage('message must start with <?xml version="1.0" encoding="GBK"?>')
    try:
        raw.decode("gbk")
    except UnicodeDecodeError:
        raise InvalidMessage("message is not valid GBK") from None
    if _DECLARATION.search(raw):
        raise InvalidMessage("DTD and entity declarations are not allowed")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidMessage(f"malformed XML: {exc.msg}") from None
    # Belt and braces: libxml2 must agree there is no DTD.
    if root.getroottree().docinfo.doctype:
        raise InvalidMessage("DTD and entity declarations are not allowed")
    return root
