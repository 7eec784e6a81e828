package cn.gov.hefei.govlink.keycloak;

import java.time.LocalDate;
import java.util.Optional;

/** User-profile validator {@code govlink-resident-id}: a GB 11643-1999 resident ID number (居民身份证号码). */
public class ResidentIdValidator extends AbstractIdentifierValidator {

    public static final String ID = "govlink-resident-id";
    public static final String MESSAGE_INVALID = "govlinkInvalidResidentId";

    @Override
    public String getId() {
        return ID;
    }

    @Override
    protected Optional<Identifiers.Problem> problem(String value) {
        // The server's default time zone, as date.today() on the Python side.
        return Identifiers.residentIdProblem(value, LocalDate.now());
    }

    @Override
    protected String messageKey() {
        return MESSAGE_INVALID;
    }

    @Override
    public String getHelpText() {
        return "Resident ID number (GB 11643-1999): length, check character, birth date, province code";
    }
}
