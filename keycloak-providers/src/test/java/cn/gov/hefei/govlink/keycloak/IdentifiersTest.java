package cn.gov.hefei.govlink.keycloak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.keycloak.validate.ValidationContext;
import org.keycloak.validate.ValidationError;
import org.keycloak.validate.ValidatorConfig;

/** The same examples as tests/unit/test_identifiers.py, plus exhaustive single-character changes. */
class IdentifiersTest {

    static final LocalDate TODAY = LocalDate.of(2025, 6, 30);
    static final String SAMPLE_ID = "11010519491231002X";
    static final String SAMPLE_USCC = "91350100M000100Y43";
    static final String MUTATIONS = "0123456789" + Identifiers.USCC_ALPHABET + "xyzIOSVZ -\u3000\uff11";

    static String residentId(String first17) {
        return first17 + Identifiers.residentIdCheckChar(first17);
    }

    static String uscc(String authority, String category, String region, String orgBody) {
        String first17 = authority + category + region + orgBody + Identifiers.orgCodeCheckChar(orgBody);
        return first17 + Identifiers.usccCheckChar(first17);
    }

    static String residentProblem(String text) {
        return Identifiers.residentIdProblem(text, TODAY).map(Identifiers.Problem::code).orElse("valid");
    }

    static String usccProblem(String text) {
        return Identifiers.usccProblem(text).map(Identifiers.Problem::code).orElse("valid");
    }

    @Test
    void checkCharacters() {
        assertEquals('X', Identifiers.residentIdCheckChar(SAMPLE_ID.substring(0, 17)));
        assertEquals('4', Identifiers.orgCodeCheckChar("M000100Y"));
        assertEquals('X', Identifiers.orgCodeCheckChar("D2143569"));
        assertEquals('3', Identifiers.usccCheckChar(SAMPLE_USCC.substring(0, 17)));
        assertEquals("340104199001011239", residentId("34010419900101123"));
        assertEquals("91340100MA2N0001XG", uscc("9", "1", "340100", "MA2N0001"));
        assertEquals("9134010070491234X2", uscc("9", "1", "340100", "70491234"));
    }

    @ParameterizedTest
    @CsvSource({
        "11010519491231002X, valid",
        "11010519491231002x, valid",
        "' \t11010519491231002x\n', length",
        "'\u300011010519491231002X\u3000', length",
        "'11010519491231002\u3000', charset",
        "340104199001011239, valid",
        "'', empty",
        "'   ', length",
        "11010519491231002, length",
        "11010519491231002X0, length",
        "11010519491231002Y, charset",
        "1101051949123100X2, charset",
        "\uff11\uff1101051949123100X2, charset",
        "11010519491231003X, checksum",
        "10010519491231002X, region",
        "99010519491231002X, region",
    })
    void residentIdExamples(String text, String expected) {
        assertEquals(expected, residentProblem(text));
    }

    /** Issue 15: the victim's ID number or USCC with any space or format character, before or after. */
    @ParameterizedTest
    @ValueSource(strings = {"\u3000", "\u00a0", "\u2003", "\u2009", "\u2028", "\u2029", "\u0085", "\u1680",
        "\u202f", "\u205f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", " ", "\t", "\n", "\r",
        "\u000b", "\f", "\u001c", "\u0000"})
    void paddedIdentifiersAreRefusedNotStripped(String pad) {
        for (String id : List.of(SAMPLE_ID, "340104199001011239")) {
            assertFalse(Identifiers.residentIdProblem(id + pad, TODAY).isEmpty());
            assertFalse(Identifiers.residentIdProblem(pad + id, TODAY).isEmpty());
            assertFalse(Identifiers.residentIdProblem(id.substring(0, 9) + pad + id.substring(9), TODAY).isEmpty());
        }
        assertFalse(Identifiers.usccProblem(SAMPLE_USCC + pad).isEmpty());
        assertFalse(Identifiers.usccProblem(pad + SAMPLE_USCC).isEmpty());
    }

    @Test
    void fullWidthAndOtherDigitsAreRefused() {
        StringBuilder fullWidth = new StringBuilder();
        for (char c : "340104199001011239".toCharArray()) {
            fullWidth.append((char) (c - '0' + '\uff10'));
        }
        assertEquals("charset", residentProblem(fullWidth.toString()));
        assertEquals("charset", residentProblem("34010419900101123\uff19"));
        assertEquals("charset", residentProblem("3401041990010112\u0663" + "9")); // Arabic-Indic three
        assertEquals("charset", residentProblem("11010519491231002\uff38")); // full-width X
        assertEquals("charset", usccProblem("91350100M000100Y4\uff13"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"19000229", "20230229", "19901301", "19900100", "19900431", "18000229", "00000101",
        "20250701"})
    void residentIdBirthDateMustBeRealAndNotFuture(String birth) {
        assertEquals("birth_date", residentProblem(residentId("340104" + birth + "123")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"00010101", "17991231", "18000101", "18991231", "19000101", "20000229", "20250630"})
    void residentIdBirthDateBounds(String birth) {
        assertEquals("valid", residentProblem(residentId("340104" + birth + "123")));
    }

    /** GB 11643-1999 appendix A: 广东省汕头市 440524188001010014, born 1 January 1880 (no lower bound). */
    @Test
    void residentIdStandardExampleBornIn1880() {
        assertEquals("valid", residentProblem("440524188001010014"));
    }

    /** GB 32100-2015 table 1 with its amendment; the same table as tests/unit/test_identifiers.py. */
    static final String[][] GB_32100_CATEGORIES = {
        {"1", "1239"}, {"2", "19"}, {"3", "123459"}, {"4", "19"}, {"5", "1239"}, {"6", "129"},
        {"7", "129"}, {"8", "19"}, {"9", "123"}, {"A", "19"}, {"N", "1239"}, {"Y", "1"},
    };

    @Test
    void usccCategoryMustBeOneItsAuthorityGives() {
        for (String[] row : GB_32100_CATEGORIES) {
            for (char category : Identifiers.USCC_ALPHABET.toCharArray()) {
                String code = uscc(row[0], String.valueOf(category), "340100", "MA2N0001");
                String expected = row[1].indexOf(category) >= 0 ? "valid" : "category";
                assertEquals(expected, usccProblem(code), row[0] + category);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"710000", "810000", "820000", "830000", "650102"})
    void residentIdTaiwanHongKongMacaoAndPermits(String region) {
        assertEquals("valid", residentProblem(residentId(region + "19900101123")));
    }

    @ParameterizedTest
    @CsvSource({
        "91350100M000100Y43, valid",
        "'  91350100M000100Y43 ', length",
        "91350100m000100y43, charset",
        "91350100M000100y43, charset",
        "9134010070491234X2, valid",
        "'', empty",
        "91350100M000100Y4, length",
        "91350100M000100I43, charset",
        "91350100M0001-0Y43, charset",
        "B1350100M000100Y43, authority",
        "91990100M000100Y43, region",
        "9110A000M000100Y43, region",
        "91350100M000100Y53, org_code",
        "91350100M000100Y44, checksum",
    })
    void usccExamples(String text, String expected) {
        assertEquals(expected, usccProblem(text));
    }

    @Test
    void usccEveryAuthorityAndTheNationalDivision() {
        for (char authority : "123456789ANY".toCharArray()) {
            assertEquals("valid", usccProblem(uscc(String.valueOf(authority), "1", "340100", "MA2N0001")));
        }
        assertEquals("valid", usccProblem(uscc("1", "1", "100000", "MA2N0001")));
    }

    @Test
    void everySingleCharacterChangeIsRejected() {
        List<String> residentIds = List.of(SAMPLE_ID, "340104199001011239", residentId("83000020000229001"));
        for (String id : residentIds) {
            for (String changed : singleChanges(id)) {
                assertFalse(Identifiers.residentIdProblem(changed, TODAY).isEmpty(), Identifiers.mask(changed));
            }
        }
        List<String> usccs = List.of(SAMPLE_USCC, "9134010070491234X2", uscc("Y", "1", "100000", "ABCD1234"));
        for (String code : usccs) {
            for (String changed : singleChanges(code)) {
                assertFalse(Identifiers.usccProblem(changed).isEmpty(), Identifiers.mask(changed));
            }
        }
    }

    static List<String> singleChanges(String valid) {
        java.util.ArrayList<String> out = new java.util.ArrayList<>();
        for (int i = 0; i < valid.length(); i++) {
            for (char c : MUTATIONS.toCharArray()) {
                if (Character.toUpperCase(c) != valid.charAt(i)) {
                    out.add(valid.substring(0, i) + c + valid.substring(i + 1));
                }
            }
        }
        return out;
    }

    @Test
    void maskKeepsFourAndFour() {
        assertEquals("1101**********002X", Identifiers.mask(SAMPLE_ID));
        assertEquals("", Identifiers.mask(""));
        assertEquals("*****", Identifiers.mask("12345"));
        assertEquals("***********", Identifiers.mask("12345678901"));
        assertEquals("1234****9012", Identifiers.mask("123456789012"));
    }

    @Test
    void validatorsReportTheKeyAndRuleButNotTheValue() {
        ValidationContext context = new ValidationContext();
        new ResidentIdValidator().validate("11010519491231003X", "residentId", context, ValidatorConfig.EMPTY);
        new UsccValidator().validate(SAMPLE_USCC, "uscc", context, ValidatorConfig.EMPTY);
        new UsccValidator().validate("91350100M000100Y44", "uscc", context, ValidatorConfig.EMPTY);
        assertEquals(2, context.getErrors().size());
        for (ValidationError error : context.getErrors()) {
            String all = error + " " + List.of(error.getInputHintWithMessageParameters());
            assertFalse(all.contains("100Y44") || all.contains("1231003"), all);
            assertEquals("checksum", error.getMessageParameters()[0]);
        }
        assertTrue(context.getErrors().stream().anyMatch(e -> e.getMessage().equals("govlinkInvalidResidentId")));
        assertTrue(context.getErrors().stream().anyMatch(e -> e.getMessage().equals("govlinkInvalidUscc")));
    }

    @Test
    void validatorsAcceptValidValuesAndLeaveEmptyToRequired() {
        ValidationContext context = new ValidationContext();
        new ResidentIdValidator().validate(SAMPLE_ID, "residentId", context, ValidatorConfig.EMPTY);
        new ResidentIdValidator().validate(null, "residentId", context, ValidatorConfig.EMPTY);
        new ResidentIdValidator().validate("", "residentId", context, ValidatorConfig.EMPTY);
        new UsccValidator().validate(List.of(), "uscc", context, ValidatorConfig.EMPTY);
        new UsccValidator().validate(List.of(SAMPLE_USCC), "uscc", context, ValidatorConfig.EMPTY);
        assertTrue(context.isValid(), context.getErrors().toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"messages_en.properties", "messages_zh_CN.properties"})
    void messageBundlesHaveBothKeys(String bundle) throws IOException {
        Properties messages = new Properties();
        try (InputStream in = getClass().getResourceAsStream("/theme-resources/messages/" + bundle)) {
            messages.load(new InputStreamReader(in, StandardCharsets.UTF_8));
        }
        assertTrue(messages.containsKey(ResidentIdValidator.MESSAGE_INVALID));
        assertTrue(messages.containsKey(UsccValidator.MESSAGE_INVALID));
    }

    @Test
    void chineseMessage() throws IOException {
        Properties messages = new Properties();
        try (InputStream in = getClass().getResourceAsStream("/theme-resources/messages/messages_zh_CN.properties")) {
            messages.load(new InputStreamReader(in, StandardCharsets.UTF_8));
        }
        assertEquals(Optional.of("居民身份证号码无效。"),
                Optional.ofNullable(messages.getProperty(ResidentIdValidator.MESSAGE_INVALID)));
    }
}
