package cn.gov.hefei.govlink.keycloak;

import java.util.List;
import java.util.Optional;

import org.keycloak.provider.ConfiguredProvider;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.validate.AbstractStringValidator;
import org.keycloak.validate.ValidationContext;
import org.keycloak.validate.ValidationError;
import org.keycloak.validate.ValidatorConfig;

/**
 * A user-profile validator for one kind of identifier. It is its own factory
 * ({@link org.keycloak.validate.SimpleValidator}): it holds no state.
 *
 * <p>The error carries a message key and, as parameter {1}, the rule that failed (e.g.
 * {@code checksum}); never the value, which is personal data. Absent and empty values pass:
 * whether the attribute must be filled in is the attribute's {@code required} setting.
 */
abstract class AbstractIdentifierValidator extends AbstractStringValidator implements ConfiguredProvider {

    @Override
    protected boolean skipValidation(Object value, ValidatorConfig config) {
        return value == null || "".equals(value);
    }

    @Override
    protected void doValidate(String value, String inputHint, ValidationContext context, ValidatorConfig config) {
        problem(value).ifPresent(problem ->
                context.addError(new ValidationError(getId(), inputHint, messageKey(), problem.code())));
    }

    /** The rule {@code value} breaks, if any. */
    protected abstract Optional<Identifiers.Problem> problem(String value);

    /** The key of the error message in the theme-resources message bundles. */
    protected abstract String messageKey();

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return List.of();
    }
}
