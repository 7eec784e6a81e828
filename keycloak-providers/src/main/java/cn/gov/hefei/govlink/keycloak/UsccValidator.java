package cn.gov.hefei.govlink.keycloak;

import java.util.Optional;

/** User-profile validator {@code govlink-uscc}: a GB 32100-2015 unified social credit code (统一社会信用代码). */
public class UsccValidator extends AbstractIdentifierValidator {

    public static final String ID = "govlink-uscc";
    public static final String MESSAGE_INVALID = "govlinkInvalidUscc";

    @Override
    public String getId() {
        return ID;
    }

    @Override
    protected Optional<Identifiers.Problem> problem(String value) {
        return Identifiers.usccProblem(value);
    }

    @Override
    protected String messageKey() {
        return MESSAGE_INVALID;
    }

    @Override
    public String getHelpText() {
        return "Unified social credit code (GB 32100-2015): alphabet, registration authority, division, "
                + "embedded organisation code, check character";
    }
}
