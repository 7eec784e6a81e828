"""GBK / GB18030 answers (connectors/charset.py)."""
from lxml import etree

from connectors.charset import charset_of, decode_text, declared_xml_encoding, python_codec, xml_as_utf8

XML = "<a>张三丰 合肥市蜀山区</a>"


def test_charset_labels():
    assert charset_of("text/xml; charset=GBK") == "gb18030"
    assert charset_of('application/json; charset="utf-8"') == "utf-8"
    assert charset_of("text/xml") is None
    assert python_codec("x-unknown") is None


def test_declared_encoding():
    assert declared_xml_encoding(b'<?xml version="1.0" encoding="GBK"?><a/>') == "gb18030"
    assert declared_xml_encoding(b"<a/>") is None


def test_header_only_charset_is_re_encoded_for_the_parser():
    body = XML.encode("gb18030")
    fixed = xml_as_utf8(body, "GB18030")
    assert etree.fromstring(fixed).text == "张三丰 合肥市蜀山区"


def test_header_charset_wins_and_the_declaration_is_dropped():
    body = ('<?xml version="1.0" encoding="UTF-8"?>' + XML).encode("gbk")
    assert etree.fromstring(xml_as_utf8(body, "GBK")).text.startswith("张三丰")


def test_a_mislabelled_header_falls_back_to_the_declaration():
    body = ('<?xml version="1.0" encoding="GBK"?>' + XML).encode("gbk")
    assert etree.fromstring(xml_as_utf8(body, "utf-8")).text.startswith("张三丰")


def test_without_a_header_charset_the_body_is_untouched():
    body = ('<?xml version="1.0" encoding="GBK"?>' + XML).encode("gbk")
    assert xml_as_utf8(body, None) is body
    assert etree.fromstring(body).text.startswith("张三丰")  # lxml follows the declaration itself


def test_json_text_decodes_with_the_header_charset():
    assert decode_text('{"n": "张三"}'.encode("gbk"), "application/json; charset=GBK") == '{"n": "张三"}'
    assert decode_text('{"n": "张三"}'.encode(), "application/json") == '{"n": "张三"}'
