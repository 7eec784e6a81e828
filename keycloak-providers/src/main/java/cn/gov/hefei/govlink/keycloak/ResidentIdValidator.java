package cn.gov.hefei.govlink.keycloak;

import java.time.LocalDate;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.userprofile.UserProfileAttributeValidationContext;
import org.keycloak.validate.ValidationContext;
import org.keycloak.validate.ValidatorConfig;

/**
 * User-profile validator {@code govlink-resident-id}: a GB 11643-1999 resident ID number (居民身份证号码).
 *
 * <p>On the username, people are keyed on their ID number while staff and service accounts are not:
 * with the option {@code staff-pattern}, a value matching that pattern passes, but only when an
 * administrator writes it (admin API / console). Self-registration and the account console always
 * need a valid ID number.
 */
public class ResidentIdValidator extends AbstractIdentifierValidator {

    public static final String ID = "govlink-resident-id";
    public static final String MESSAGE_INVALID = "govlinkInvalidResidentId";
    public static final String STAFF_PATTERN = "staff-pattern";

    @Override
    protected void doValidate(String value, String inputHint, ValidationContext context, ValidatorConfig config) {
        if (isStaffAccount(value, context, config)) {
            return;
        }
        super.doValidate(value, inputHint, context, config);
    }

    private static boolean isStaffAccount(String value, ValidationContext context, ValidatorConfig config) {
        Object pattern = config == null ? null : config.get(STAFF_PATTERN);
        if (!(pattern instanceof String) || ((String) pattern).isEmpty()) {
            return false;
        }
        if (!(context instanceof UserProfileAttributeValidationContext)) {
            return false;
        }
        var attributeContext = ((UserProfileAttributeValidationContext) context).getAttributeContext();
        return attributeContext.getContext().isAdminContext() && Pattern.matches((String) pattern, value);
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        ProviderConfigProperty staff = new ProviderConfigProperty(STAFF_PATTERN, "Staff account pattern",
                "Values matching this regular expression pass when an administrator writes them (staff accounts)",
                ProviderConfigProperty.STRING_TYPE, null);
        return List.of(staff);
    }

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
