package cn.gov.hefei.govlink.keycloak.broker;

import java.util.List;

import org.keycloak.Config;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.AuthenticatorFactory;
import org.keycloak.models.AuthenticationExecutionModel.Requirement;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;

/** Factory of {@link NationalIdentityLinkAuthenticator}. */
public class NationalIdentityLinkAuthenticatorFactory implements AuthenticatorFactory {

    private static final NationalIdentityLinkAuthenticator SINGLETON = new NationalIdentityLinkAuthenticator();

    @Override
    public Authenticator create(KeycloakSession session) {
        return SINGLETON;
    }

    @Override
    public String getId() {
        return NationalIdentityLinkAuthenticator.ID;
    }

    @Override
    public String getDisplayType() {
        return "govlink: link the national identity by resident ID number (L2)";
    }

    @Override
    public String getReferenceCategory() {
        return "national-identity";
    }

    @Override
    public boolean isConfigurable() {
        return false;
    }

    @Override
    public Requirement[] getRequirementChoices() {
        return new Requirement[] {Requirement.REQUIRED, Requirement.DISABLED};
    }

    @Override
    public boolean isUserSetupAllowed() {
        return false;
    }

    @Override
    public String getHelpText() {
        return "Links the brokered account by its verified resident ID number (never by name or e-mail) and records L2.";
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
