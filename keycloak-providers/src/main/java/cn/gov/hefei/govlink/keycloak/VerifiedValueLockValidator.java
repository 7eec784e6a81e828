package cn.gov.hefei.govlink.keycloak;

import java.util.Collection;
import java.util.List;
import java.util.Objects;

import org.keycloak.models.UserModel;
import org.keycloak.provider.ConfiguredProvider;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.userprofile.AttributeContext;
import org.keycloak.userprofile.UserProfileAttributeValidationContext;
import org.keycloak.validate.SimpleValidator;
import org.keycloak.validate.ValidationContext;
import org.keycloak.validate.ValidationError;
import org.keycloak.validate.ValidatorConfig;

/**
 * User-profile validator {@code govlink-locked-when-verified}: once a person's name has been
 * verified (assurance level 2 or more), they can no longer change it themselves.
 *
 * <p>The level attribute may also be a flag: {@code true} counts as level 1. Issue 21: a person changed a
 * verified {@code phone_number} in the account console and kept {@code phone_number_verified}; with the
 * flag as the level, a verified phone changes only through the verify-phone required action (an SMS code
 * to the new number), which writes the attributes itself.
 *
 * <p>Issue 15: a verified (L2) person renamed themselves through the account API and then
 * registered an enterprise whose legal representative bore that name. The level stays an attribute
 * only govlink writes; this validator keeps the value it vouched for. It refuses a change in every
 * non-admin context (account console and REST API, update-profile required action, identity-provider
 * review) of a user whose {@code level-attribute} is at least {@code min-level}. Registration (no
 * user yet) and administrators (govlink's service account, which re-binds accounts) pass.
 */
public class VerifiedValueLockValidator implements SimpleValidator, ConfiguredProvider {

    public static final String ID = "govlink-locked-when-verified";
    public static final String MESSAGE_LOCKED = "govlinkVerifiedValueLocked";
    public static final String LEVEL_ATTRIBUTE = "level-attribute";
    public static final String MIN_LEVEL = "min-level";
    static final String DEFAULT_LEVEL_ATTRIBUTE = "assurance_level";
    static final int DEFAULT_MIN_LEVEL = 2;

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public ValidationContext validate(Object input, String inputHint, ValidationContext context, ValidatorConfig config) {
        if (!(context instanceof UserProfileAttributeValidationContext)) {
            return context;
        }
        AttributeContext attributeContext = ((UserProfileAttributeValidationContext) context).getAttributeContext();
        UserModel user = attributeContext.getUser();
        if (attributeContext.getContext().isAdminContext() || user == null) {
            return context;
        }
        if (level(user, config) < minLevel(config)) {
            return context;
        }
        String name = attributeContext.getAttribute() != null ? attributeContext.getAttribute().getKey() : inputHint;
        if (!Objects.equals(blankToNull(stored(user, name)), blankToNull(first(input)))) {
            context.addError(new ValidationError(ID, inputHint, MESSAGE_LOCKED));
        }
        return context;
    }

    /** What the user has now (the proposed change is not applied before validation). */
    static String stored(UserModel user, String name) {
        switch (name) {
            case UserModel.FIRST_NAME:
                return user.getFirstName();
            case UserModel.LAST_NAME:
                return user.getLastName();
            default:
                return user.getFirstAttribute(name);
        }
    }

    static String first(Object input) {
        if (input instanceof Collection) {
            Collection<?> values = (Collection<?>) input;
            return values.isEmpty() ? null : Objects.toString(values.iterator().next(), null);
        }
        return input == null ? null : input.toString();
    }

    private static String blankToNull(String value) {
        return value == null || value.isEmpty() ? null : value;
    }

    private static int level(UserModel user, ValidatorConfig config) {
        Object attribute = config == null ? null : config.get(LEVEL_ATTRIBUTE);
        String value = user.getFirstAttribute(attribute instanceof String ? (String) attribute : DEFAULT_LEVEL_ATTRIBUTE);
        if (value == null) {
            return 0;
        }
        if ("true".equalsIgnoreCase(value.trim())) {  // a verification flag (phone_number_verified) is level 1
            return 1;
        }
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static int minLevel(ValidatorConfig config) {
        Object value = config == null ? null : config.get(MIN_LEVEL);
        if (value == null) {
            return DEFAULT_MIN_LEVEL;
        }
        try {
            return Integer.parseInt(value.toString());
        } catch (NumberFormatException e) {
            return DEFAULT_MIN_LEVEL;
        }
    }

    @Override
    public String getHelpText() {
        return "Refuses changes by the user once the level attribute reaches the minimum (verified values are locked)";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return List.of(
                new ProviderConfigProperty(LEVEL_ATTRIBUTE, "Level attribute", "The user attribute holding the level",
                        ProviderConfigProperty.STRING_TYPE, DEFAULT_LEVEL_ATTRIBUTE),
                new ProviderConfigProperty(MIN_LEVEL, "Minimum level", "From this level on, the value is locked",
                        ProviderConfigProperty.STRING_TYPE, String.valueOf(DEFAULT_MIN_LEVEL)));
    }
}
