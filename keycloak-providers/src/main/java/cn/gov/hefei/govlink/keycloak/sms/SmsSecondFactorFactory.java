package cn.gov.hefei.govlink.keycloak.sms;

import org.keycloak.authentication.Authenticator;
import org.keycloak.models.AuthenticationExecutionModel.Requirement;
import org.keycloak.models.KeycloakSession;

/** {@code govlink-sms-2fa}: an SMS code to the signed-in person's verified phone, as a second factor. */
public class SmsSecondFactorFactory extends SmsAuthenticatorFactory {

    public static final String ID = "govlink-sms-2fa";

    @Override
    public Authenticator create(KeycloakSession session) {
        return new SmsAuthenticator(true, "signin");
    }

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "govlink: SMS code as second factor";
    }

    @Override
    public Requirement[] getRequirementChoices() {
        return new Requirement[] {Requirement.REQUIRED, Requirement.ALTERNATIVE, Requirement.DISABLED};
    }

    @Override
    public boolean isUserSetupAllowed() {
        return true;
    }
}
