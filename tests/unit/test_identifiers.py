"""Resident ID number and USCC validation (R1), masking (R11)."""

from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kernel.identifiers import (
    USCC_ALPHABET,
    USCC_AUTHORITIES,
    InvalidIdentifier,
    identifier_kind,
    make_resident_id,
    make_uscc,
    mask,
    org_code_check_char,
    resident_id_check_char,
    uscc_check_char,
    validate_resident_id,
    validate_uscc,
)

TODAY = date(2025, 6, 30)
SAMPLE_ID = "11010519491231002X"  # the well-known GB 11643 sample; checked by hand below
SAMPLE_USCC = "91350100M000100Y43"  # embeds organisation code M000100Y-4


def code_of(func, text, **kwargs):
    with pytest.raises(InvalidIdentifier) as info:
        func(text, **kwargs)
    return info.value.code


# --- resident ID number, examples -------------------------------------------------------------


def test_sample_resident_id_is_valid():
    assert resident_id_check_char(SAMPLE_ID[:17]) == "X"
    assert validate_resident_id(SAMPLE_ID, today=TODAY) == SAMPLE_ID


def test_resident_id_is_stripped_and_check_x_upper_cased():
    assert validate_resident_id(" \t11010519491231002x\n", today=TODAY) == SAMPLE_ID


def test_make_resident_id_defaults():
    assert make_resident_id() == "340104199001011239"
    assert validate_resident_id(make_resident_id(), today=TODAY) == "340104199001011239"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("11010519491231002", "length"),
        ("11010519491231002X0", "length"),
        ("11010519491231002Y", "charset"),
        ("1101051949123100X2", "charset"),
        ("１１010519491231002X", "charset"),  # full-width digits are not ASCII digits
        ("11010519491231003X", "checksum"),
        ("10010519491231002X", "region"),
        ("99010519491231002X", "region"),
    ],
)
def test_resident_id_rejections(text, code):
    assert code_of(validate_resident_id, text, today=TODAY) == code


@pytest.mark.parametrize(
    "birth",
    ["19000229", "20230229", "19901301", "19900100", "19900431", "18000229", "00000101"],
)
def test_resident_id_birth_date_must_be_real(birth):
    first17 = "340104" + birth + "123"
    text = first17 + resident_id_check_char(first17)
    assert code_of(validate_resident_id, text, today=TODAY) == "birth_date"


def test_gb_11643_worked_examples_are_valid():
    """GB 11643-1999 appendix A's examples (as quoted e.g. at download.csdn.net/download/kudy21/2033732):
    北京市朝阳区 11010519491231002X and 广东省汕头市 440524188001010014, a man born 1 January 1880."""
    assert validate_resident_id("440524188001010014", today=TODAY) == "440524188001010014"
    assert validate_resident_id(SAMPLE_ID, today=TODAY) == SAMPLE_ID


def test_resident_id_birth_date_bounds():
    # DOMAIN.md section 2: a real date not in the future, no lower bound (GB 11643 writes four-digit
    # years, GB/T 7408; year 0000 is no date).
    assert validate_resident_id(make_resident_id(birth=date(1, 1, 1)), today=TODAY)
    assert validate_resident_id(make_resident_id(birth=date(1799, 12, 31)), today=TODAY)
    assert validate_resident_id(make_resident_id(birth=date(1800, 1, 1)), today=TODAY)
    assert validate_resident_id(make_resident_id(birth=date(1899, 12, 31)), today=TODAY)
    assert validate_resident_id(make_resident_id(birth=date(1900, 1, 1)), today=TODAY)
    assert validate_resident_id(make_resident_id(birth=date(2000, 2, 29)), today=TODAY)
    assert validate_resident_id(make_resident_id(birth=TODAY), today=TODAY)
    tomorrow = make_resident_id(birth=TODAY + timedelta(days=1))
    assert code_of(validate_resident_id, tomorrow, today=TODAY) == "birth_date"


def test_resident_id_birth_date_defaults_to_the_real_today():
    future = make_resident_id(birth=date.today() + timedelta(days=1))
    assert code_of(validate_resident_id, future) == "birth_date"


@pytest.mark.parametrize("region", ["710000", "810000", "820000", "830000", "650102"])
def test_resident_id_accepts_taiwan_hk_macao_and_permit_codes(region):
    text = make_resident_id(region=region)
    assert validate_resident_id(text, today=TODAY) == text


def test_resident_id_rejects_non_strings():
    assert code_of(validate_resident_id, None) == "type"
    assert code_of(validate_resident_id, 110105194912310020) == "type"


# --- USCC, examples ---------------------------------------------------------------------------


def test_sample_uscc_is_valid():
    assert org_code_check_char("M000100Y") == "4"
    assert uscc_check_char(SAMPLE_USCC[:17]) == "3"
    assert validate_uscc(SAMPLE_USCC) == SAMPLE_USCC


def test_org_code_textbook_example():
    assert org_code_check_char("D2143569") == "X"  # GB 11714 example D2143569-X


def test_uscc_is_stripped_and_upper_cased():
    assert validate_uscc("  91350100m000100y43 ") == SAMPLE_USCC


def test_make_uscc_defaults():
    assert make_uscc() == "91340100MA2N0001XG"
    assert validate_uscc(make_uscc()) == "91340100MA2N0001XG"


@pytest.mark.parametrize("authority", sorted(USCC_AUTHORITIES))
def test_uscc_accepts_every_registration_authority(authority):
    assert validate_uscc(make_uscc(authority=authority))


# GB 32100-2015 table 1 with amendment 1: 登记管理部门代码 -> 机构类别代码. As published in the
# standard and quoted e.g. at https://osuse.cn/post/10002590.html ("统一社会信用代码解析登记管理部门和
# 机构类别") and fdstar/NumberValidators ManagementKindCode.cs (机构编制, 民政, 工商).
GB_32100_CATEGORIES = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 中央编办直接管理机构编制的群众团体, 其他
    "2": "19",  # 外交: 外国常住新闻机构, 其他
    "3": "123459",  # 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",  # 文化: 外国在华文化中心, 其他
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游: 外国旅游部门常驻代表机构, 港澳台地区旅游部门常驻内地(大陆)代表机构, 其他
    "7": "129",  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "19",  # 工会: 基层工会, 其他
    "9": "123",  # 工商: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": "1239",  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "1",  # 其他: not divided, always 1
}


@pytest.mark.parametrize(
    ("authority", "category"),
    [(a, c) for a, cs in GB_32100_CATEGORIES.items() for c in cs],
)
def test_uscc_accepts_the_categories_of_its_authority(authority, category):
    text = make_uscc(authority=authority, category=category)
    assert validate_uscc(text) == text


@pytest.mark.parametrize(
    ("authority", "category"),
    [(a, c) for a, cs in GB_32100_CATEGORIES.items() for c in USCC_ALPHABET if c not in cs],
)
def test_uscc_refuses_a_category_its_authority_does_not_have(authority, category):
    text = make_uscc(authority=authority, category=category)  # a right check character
    assert code_of(validate_uscc, text) == "category"


def test_uscc_category_examples():
    assert code_of(validate_uscc, make_uscc(authority="9", category="4")) == "category"
    assert code_of(validate_uscc, make_uscc(authority="9", category="9")) == "category"
    assert code_of(validate_uscc, make_uscc(authority="Y", category="9")) == "category"
    assert validate_uscc(make_uscc(authority="5", category="3"))


def test_uscc_accepts_the_national_division():
    assert validate_uscc(make_uscc(authority="1", region="100000"))


def test_uscc_org_code_with_check_x():
    text = make_uscc(org_body="70491234")
    assert text == "9134010070491234X2"
    assert validate_uscc(text) == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("91350100M000100Y4", "length"),
        ("91350100M000100I43", "charset"),  # I is not in the alphabet
        ("91350100M0001-0Y43", "charset"),
        ("B1350100M000100Y43", "authority"),
        ("91990100M000100Y43", "region"),
        ("9110A000M000100Y43", "region"),
        ("91350100M000100Y53", "org_code"),
        ("91350100M000100Y44", "checksum"),
    ],
)
def test_uscc_rejections(text, code):
    assert code_of(validate_uscc, text) == code


# --- identifier_kind --------------------------------------------------------------------------


def test_identifier_kind():
    assert identifier_kind(SAMPLE_ID, today=TODAY) == "resident_id"
    assert identifier_kind(SAMPLE_USCC) == "uscc"
    all_digit_uscc = make_uscc(org_body="70491235")
    assert all_digit_uscc == "913401007049123582"  # shaped like a resident ID, fails as one
    assert identifier_kind(all_digit_uscc, today=TODAY) == "uscc"


def test_identifier_kind_reports_the_error_of_the_shape():
    assert code_of(identifier_kind, "11010519491231003X", today=TODAY) == "checksum"
    assert code_of(identifier_kind, "91350100M000100Y44") == "checksum"
    assert code_of(identifier_kind, "hello") == "length"


# --- mask -------------------------------------------------------------------------------------


def test_mask_examples():
    assert mask("340104199001011239") == "3401**********1239"
    assert mask(SAMPLE_ID) == "1101**********002X"
    assert mask("") == ""
    assert mask("12345") == "*****"


# --- properties -------------------------------------------------------------------------------

PROVINCES = sorted(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
digits4 = st.text("0123456789", min_size=4, max_size=4)

resident_ids = st.builds(
    make_resident_id,
    region=st.builds(lambda p, rest: p + rest, st.sampled_from(PROVINCES + ["83"]), digits4),
    birth=st.dates(min_value=date(1, 1, 1), max_value=TODAY),
    seq=st.integers(0, 999),
)

usccs = st.builds(
    lambda pair, **parts: make_uscc(authority=pair[0], category=pair[1], **parts),
    st.sampled_from([(a, c) for a, cs in GB_32100_CATEGORIES.items() for c in cs]),
    region=st.one_of(
        st.builds(lambda p, rest: p + rest, st.sampled_from(PROVINCES), digits4),
        st.just("100000"),
    ),
    org_body=st.text(USCC_ALPHABET, min_size=8, max_size=8),
)


@st.composite
def single_char_changes(draw, valid):
    """A valid identifier with one character replaced by a different one (not a case change)."""
    text = draw(valid)
    pos = draw(st.integers(0, len(text) - 1))
    new = draw(st.one_of(st.sampled_from("0123456789X" + USCC_ALPHABET + "xaz -"), st.characters()))
    assume(new.upper() != text[pos])
    return text, text[:pos] + new + text[pos + 1 :]


@given(resident_ids)
def test_every_generated_resident_id_validates(text):
    assert validate_resident_id(text, today=TODAY) == text
    assert identifier_kind(text, today=TODAY) == "resident_id"


@given(usccs)
def test_every_generated_uscc_validates(text):
    assert validate_uscc(text) == text
    assert validate_uscc(text.lower()) == text


@given(single_char_changes(resident_ids))
def test_any_single_change_of_a_resident_id_is_rejected(pair):
    original, changed = pair
    with pytest.raises(InvalidIdentifier) as info:
        validate_resident_id(changed, today=TODAY)
    message = str(info.value)
    for raw in (original, changed, changed.strip(), original[4:14]):
        assert raw not in message


@given(single_char_changes(usccs))
def test_any_single_change_of_a_uscc_is_rejected(pair):
    original, changed = pair
    with pytest.raises(InvalidIdentifier) as info:
        validate_uscc(changed)
    message = str(info.value)
    for raw in (original, changed, changed.strip().upper(), original[4:14]):
        assert raw not in message


@st.composite
def resident_ids_ending_in_x(draw):
    text = draw(resident_ids)
    seq = int(text[14:17])
    # The check char cycles with the sequence number; step until it is X.
    for step in range(1000):
        birth = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
        candidate = make_resident_id(text[:6], birth, (seq + step) % 1000)
        if candidate.endswith("X"):
            return candidate
    raise AssertionError("no sequence number gives X")  # pragma: no cover


@given(resident_ids_ending_in_x())
def test_lower_case_x_is_accepted_and_normalised(text):
    assert validate_resident_id(text[:17] + "x", today=TODAY) == text


@given(st.one_of(resident_ids, usccs))
def test_mask_hides_the_middle_of_identifiers(text):
    masked = mask(text)
    assert len(masked) == 18
    assert masked == text[:4] + "*" * 10 + text[-4:]


@given(st.text())
def test_mask_is_safe_on_any_string_and_never_shows_the_middle(text):
    masked = mask(text)
    assert len(masked) == len(text)
    if len(text) < 12:
        assert set(masked) <= {"*"}
    else:
        assert masked[4:-4] == "*" * (len(text) - 8)


ERROR_CODES = {"empty", "length", "charset", "region", "birth_date", "authority", "category", "org_code", "checksum"}


@given(st.text(max_size=40))
def test_validators_raise_only_invalid_identifier(text):
    for validate in (validate_resident_id, validate_uscc, identifier_kind):
        try:
            validate(text)
        except InvalidIdentifier as error:
            assert error.code in ERROR_CODES
