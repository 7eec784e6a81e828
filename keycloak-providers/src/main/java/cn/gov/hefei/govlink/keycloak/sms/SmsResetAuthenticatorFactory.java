package cn.gov.hefei.govlink.keycloak.sms;

import org.keycloak.authentication.Authenticator;
import org.keycloak.models.KeycloakSession;

/** {@code govlink-sms-reset}: the first step of "forgot password": prove the verified phone by SMS code. */
public class SmsResetAuthenticatorFactory extends SmsAuthenticatorFactory {

    public static final String ID = "govlink-sms-reset";

    @Override
    public Authenticator create(KeycloakSession session) {
        return new SmsAuthenticator(false, "reset");
    }

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "govlink: reset password through the verified phone";
    }
}
