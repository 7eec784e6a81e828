package cn.gov.hefei.govlink.keycloak.sms;

import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.authenticators.browser.UsernamePasswordFormFactory;
import org.keycloak.models.KeycloakSession;

/** {@code govlink-password-form}: see {@link GovlinkPasswordForm}. */
public class GovlinkPasswordFormFactory extends UsernamePasswordFormFactory {

    public static final String ID = "govlink-password-form";

    @Override
    public Authenticator create(KeycloakSession session) {
        return new GovlinkPasswordForm(session);
    }

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "govlink: ID number or phone, and password (passkeys too)";
    }
}
