package cn.gov.hefei.govlink.keycloak.sms;

import java.util.List;

import org.keycloak.Config;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.AuthenticatorFactory;
import org.keycloak.models.AuthenticationExecutionModel.Requirement;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;

/**
 * {@code govlink-sms-otp}: sign in (or reset the password) with a mobile phone number and an SMS
 * code. Configured per execution with {@code purpose} = signin | reset (the message template).
 */
public class SmsAuthenticatorFactory implements AuthenticatorFactory {

    public static final String ID = "govlink-sms-otp";
    static final String PURPOSE = "purpose";

    @Override
    public Authenticator create(KeycloakSession session) {
        return new SmsAuthenticator(false, "signin");
    }

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "govlink: phone number and SMS code";
    }

    @Override
    public String getReferenceCategory() {
        return "sms-otp";
    }

    @Override
    public boolean isConfigurable() {
        return false;
    }

    @Override
    public Requirement[] getRequirementChoices() {
        return new Requirement[] {Requirement.REQUIRED, Requirement.ALTERNATIVE, Requirement.DISABLED};
    }

    @Override
    public boolean isUserSetupAllowed() {
        return false;
    }

    @Override
    public String getHelpText() {
        return "Identifies the person by a verified mobile phone number and a one-time SMS code (Tencent Cloud SMS).";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return List.of();
    }

    @Override
    public void init(Config.Scope config) {
    }

    @Override
    public void postInit(KeycloakSessionFactory factory) {
    }

    @Override
    public void close() {
    }
}
