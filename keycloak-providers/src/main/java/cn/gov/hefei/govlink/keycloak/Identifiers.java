package cn.gov.hefei.govlink.keycloak;

import java.time.DateTimeException;
import java.time.LocalDate;
import java.util.Optional;
import java.util.Set;

/**
 * Validation of the resident ID number (居民身份证号码, GB 11643-1999) and the unified social
 * credit code (统一社会信用代码, GB 32100-2015).
 *
 * <p>A port of the strict checks of {@code idp/identifiers.py} ({@code canonical_resident_id},
 * {@code canonical_uscc}); change both together. Choices the standards leave open (province 83
 * for Taiwan residence permits, USCC division 100000, the registration-authority list, category
 * code not checked) are documented there.
 *
 * <p>Only the exact canonical form passes: nothing is stripped or case-folded (issue 15: a
 * username of an ID number padded with U+3000 was accepted here, stored raw by Keycloak and read
 * as the victim by a gateway that stripped it again). The one exception is the resident ID's check
 * character, which may be {@code x}: Keycloak lower-cases every username before validating and
 * storing it, so {@code X} and {@code x} are one and the same username there.
 */
public final class Identifiers {

    /** Why an identifier was rejected; the names match the Python {@code InvalidIdentifier.code}. */
    public enum Problem {
        EMPTY, LENGTH, CHARSET, REGION, BIRTH_DATE, AUTHORITY, CATEGORY, ORG_CODE, CHECKSUM;

        /** The lower-case code shared with the Python side, e.g. {@code birth_date}. */
        public String code() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public static final int LENGTH = 18;

    /** GB/T 2260 province-level codes. */
    static final Set<String> PROVINCE_CODES = Set.of(
            "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
            "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
            "71", "81", "82");
    /** 830000: residence permit of Taiwan residents. */
    static final String TAIWAN_RESIDENCE_PERMIT = "83";
    /** 全国: central-level bodies in a USCC. */
    static final String NATIONAL_DIVISION = "100000";

    private static final int[] RESIDENT_WEIGHTS = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    private static final String RESIDENT_CHECK = "10X98765432";
    /** No lower bound (DOMAIN.md section 2, GB 11643's own example is born in 1880); year 0000 is no date. */
    private static final LocalDate EARLIEST_BIRTH = LocalDate.of(1, 1, 1);

    public static final String USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    private static final int[] USCC_WEIGHTS = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    /** 登记管理部门代码, GB 32100-2015 table 1 with its amendment. */
    static final String USCC_AUTHORITIES = "123456789ANY";
    /** 机构类别代码 per authority, in USCC_AUTHORITIES order (GB 32100-2015 table 1 with its amendment). */
    private static final String[] USCC_CATEGORIES = {
        "1239", "19", "123459", "19", "1239", "129", "129", "19", "123", "19", "1239", "1"};

    private static final int[] ORG_WEIGHTS = {3, 7, 9, 10, 5, 8, 4, 2};
    private static final String ORG_BODY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    private Identifiers() {
    }

    /** The GB 11643 check character for 17 ASCII digits. */
    public static char residentIdCheckChar(String first17) {
        if (first17.length() != 17 || !allDigits(first17)) {
            throw new IllegalArgumentException("need exactly 17 ASCII digits");
        }
        int total = 0;
        for (int i = 0; i < 17; i++) {
            total += (first17.charAt(i) - '0') * RESIDENT_WEIGHTS[i];
        }
        return RESIDENT_CHECK.charAt(total % 11);
    }

    /** The GB 11714 check character for the first 8 characters (0-9, A-Z) of an organisation code. */
    public static char orgCodeCheckChar(String first8) {
        if (first8.length() != 8) {
            throw new IllegalArgumentException("need exactly 8 characters from 0-9 and A-Z");
        }
        int total = 0;
        for (int i = 0; i < 8; i++) {
            int value = ORG_BODY_ALPHABET.indexOf(first8.charAt(i));
            if (value < 0) {
                throw new IllegalArgumentException("need exactly 8 characters from 0-9 and A-Z");
            }
            total += value * ORG_WEIGHTS[i];
        }
        int check = 11 - total % 11;
        return check == 10 ? 'X' : check == 11 ? '0' : (char) ('0' + check);
    }

    /** The GB 32100 check character for the first 17 characters of a USCC. */
    public static char usccCheckChar(String first17) {
        if (first17.length() != 17) {
            throw new IllegalArgumentException("need exactly 17 characters from the USCC alphabet");
        }
        int total = 0;
        for (int i = 0; i < 17; i++) {
            int value = USCC_ALPHABET.indexOf(first17.charAt(i));
            if (value < 0) {
                throw new IllegalArgumentException("need exactly 17 characters from the USCC alphabet");
            }
            total += value * USCC_WEIGHTS[i];
        }
        return USCC_ALPHABET.charAt((31 - total % 31) % 31);
    }

    /**
     * Check a resident ID number; empty when valid.
     *
     * @param today the latest acceptable birth date
     */
    public static Optional<Problem> residentIdProblem(String text, LocalDate today) {
        String id = text;
        if (id.isEmpty()) {
            return Optional.of(Problem.EMPTY);
        }
        if (id.codePointCount(0, id.length()) != LENGTH) {
            return Optional.of(Problem.LENGTH);
        }
        if (id.length() != LENGTH || !allDigits(id.substring(0, 17)) || "0123456789Xx".indexOf(id.charAt(17)) < 0) {
            return Optional.of(Problem.CHARSET);
        }
        String province = id.substring(0, 2);
        if (!PROVINCE_CODES.contains(province) && !TAIWAN_RESIDENCE_PERMIT.equals(province)) {
            return Optional.of(Problem.REGION);
        }
        if (!validBirthDate(id.substring(6, 14), today)) {
            return Optional.of(Problem.BIRTH_DATE);
        }
        if (residentIdCheckChar(id.substring(0, 17)) != Character.toUpperCase(id.charAt(17))) {
            return Optional.of(Problem.CHECKSUM);
        }
        return Optional.empty();
    }

    /** Check a unified social credit code; empty when valid. */
    public static Optional<Problem> usccProblem(String text) {
        String code = text;
        if (code.isEmpty()) {
            return Optional.of(Problem.EMPTY);
        }
        if (code.codePointCount(0, code.length()) != LENGTH) {
            return Optional.of(Problem.LENGTH);
        }
        if (code.length() != LENGTH) {
            return Optional.of(Problem.CHARSET);
        }
        for (int i = 0; i < LENGTH; i++) {
            // Upper-case ASCII of the alphabet only: no case folding, no other scripts.
            if (USCC_ALPHABET.indexOf(code.charAt(i)) < 0) {
                return Optional.of(Problem.CHARSET);
            }
        }
        int authority = USCC_AUTHORITIES.indexOf(code.charAt(0));
        if (authority < 0) {
            return Optional.of(Problem.AUTHORITY);
        }
        if (USCC_CATEGORIES[authority].indexOf(code.charAt(1)) < 0) {
            return Optional.of(Problem.CATEGORY);
        }
        String division = code.substring(2, 8);
        if (!allDigits(division)
                || !(PROVINCE_CODES.contains(division.substring(0, 2)) || NATIONAL_DIVISION.equals(division))) {
            return Optional.of(Problem.REGION);
        }
        if (orgCodeCheckChar(code.substring(8, 16)) != code.charAt(16)) {
            return Optional.of(Problem.ORG_CODE);
        }
        if (usccCheckChar(code.substring(0, 17)) != code.charAt(17)) {
            return Optional.of(Problem.CHECKSUM);
        }
        return Optional.empty();
    }

    /** First 4 and last 4 characters kept, the rest {@code *}; under 12 characters, all stars. */
    public static String mask(String identifier) {
        int[] cps = identifier.codePoints().toArray();
        StringBuilder out = new StringBuilder(cps.length);
        for (int i = 0; i < cps.length; i++) {
            boolean keep = cps.length >= 12 && (i < 4 || i >= cps.length - 4);
            if (keep) {
                out.appendCodePoint(cps[i]);
            } else {
                out.append('*');
            }
        }
        return out.toString();
    }

    private static boolean validBirthDate(String yyyymmdd, LocalDate today) {
        LocalDate birth;
        try {
            birth = LocalDate.of(
                    Integer.parseInt(yyyymmdd.substring(0, 4)),
                    Integer.parseInt(yyyymmdd.substring(4, 6)),
                    Integer.parseInt(yyyymmdd.substring(6, 8)));
        } catch (DateTimeException e) {
            return false;
        }
        return !birth.isBefore(EARLIEST_BIRTH) && !birth.isAfter(today);
    }

    private static boolean allDigits(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }
}
