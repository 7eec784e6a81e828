"""Character sets of department answers: many legacy systems answer in GBK or GB18030. Pure functions.

An XML answer that declares its encoding (`<?xml ... encoding="GBK"?>`) is parsed right by lxml
as it is. One whose only hint is the HTTP header (`Content-Type: text/xml; charset=GB18030`)
would be read as UTF-8 and fail, so it is re-encoded to UTF-8 before zeep sees it. Following
RFC 7303, the header's charset wins over the declaration when both are present.
"""
from __future__ import annotations

import codecs
import re

# GB18030 is a superset of GBK, which is a superset of GB2312: decoding with it never loses text
# that a system labelled with the older names.
_GB_FAMILY = {"gb2312", "gbk", "cp936", "x-gbk", "gb18030", "euc-cn", "csgb2312"}
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.IGNORECASE)


def python_codec(charset: str | None) -> str | None:
    """The Python codec for a charset label (GB family -> gb18030), or None if unknown/absent."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    if label in _GB_FAMILY:
        return "gb18030"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_of(content_type: str | None) -> str | None:
    """The `charset` parameter of a Content-Type header, as a Python codec name."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return python_codec(value)
    return None


def declared_xml_encoding(body: bytes) -> str | None:
    """The encoding named by the XML declaration, as a Python codec name (None if not declared)."""
    decl = _XML_DECL.match(body)
    if not decl:
        return None
    found = _DECL_ENCODING.search(decl.group(0))
    return python_codec(found.group(1).decode("ascii")) if found else None


def xml_as_utf8(body: bytes, http_charset: str | None) -> bytes:
    """Re-encode an XML body to UTF-8 (declaration removed) when the HTTP header names its charset.

    Without a header charset the body is returned unchanged: lxml then follows the declaration
    (or the UTF-8 default). A body that does not decode with the header's charset is decoded with
    the declared one instead, since a mislabelled header is common with legacy servers.
    """
    codec = python_codec(http_charset)
    if codec is None or (codec == "utf-8" and declared_xml_encoding(body) in (None, "utf-8")):
        return body
    for candidate in (codec, declared_xml_encoding(body), "utf-8"):
        if candidate is None:
            continue
        try:
            text = body.decode(candidate)
        except UnicodeDecodeError:
            continue
        return _XML_DECL.sub(b"", text.encode("utf-8"), count=1).lstrip()
    return body  # leave it to the XML parser to report


def decode_text(body: bytes, content_type: str | None, default: str = "utf-8") -> str:
    """Decode a text body (e.g. JSON) with the header's charset, GB family included."""
    codec = charset_of(content_type) or default
    return body.decode(codec)
