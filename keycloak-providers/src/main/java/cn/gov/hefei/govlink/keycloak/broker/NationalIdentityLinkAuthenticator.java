package cn.gov.hefei.govlink.keycloak.broker;

import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.Locale;

import jakarta.ws.rs.core.Response;

import org.jboss.logging.Logger;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.authenticators.broker.AbstractIdpAuthenticator;
import org.keycloak.authentication.authenticators.broker.util.SerializedBrokeredIdentityContext;
import org.keycloak.broker.provider.BrokeredIdentityContext;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.RoleModel;
import org.keycloak.models.UserModel;
import org.keycloak.sessions.AuthenticationSessionModel;

import cn.gov.hefei.govlink.keycloak.Identifiers;

/**
 * {@code govlink-national-identity-link}: the first-broker-login (and post-broker-login) step for the
 * national government service platform's unified identity (国家政务服务平台统一身份认证).
 *
 * <p>The upstream names the person by a resident ID number it has verified (its
 * {@code preferred_username}). The account is the one whose username is that number, never one
 * matched by name or e-mail: an account registered here with the same number is linked, not
 * duplicated; without one, an account is created. The platform vouches for the name and the
 * number, so the account's level becomes at least L2 ({@code assurance_level}), and its source is
 * recorded ({@code assurance_source = national-idp:<alias>}, {@code assurance_verified_at}). A
 * level already higher is kept, with its own source. Once linked, a later sign-in whose number is
 * not the account's is refused.
 */
public class NationalIdentityLinkAuthenticator implements Authenticator {

    public static final String ID = "govlink-national-identity-link";
    static final String POST_BROKER_NOTE = "PBL_BROKERED_IDENTITY_CONTEXT";
    private static final Logger LOG = Logger.getLogger(NationalIdentityLinkAuthenticator.class);

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        AuthenticationSessionModel auth = context.getAuthenticationSession();
        SerializedBrokeredIdentityContext serialized = SerializedBrokeredIdentityContext.readFromAuthenticationSession(
                auth, AbstractIdpAuthenticator.BROKERED_CONTEXT_NOTE);
        if (serialized == null) {
            serialized = SerializedBrokeredIdentityContext.readFromAuthenticationSession(auth, POST_BROKER_NOTE);
        }
        if (serialized == null) {
            context.failure(AuthenticationFlowError.IDENTITY_PROVIDER_ERROR);
            return;
        }
        BrokeredIdentityContext broker = serialized.deserialize(context.getSession(), auth);
        String residentId = broker.getUsername() == null ? "" : broker.getUsername().trim().toUpperCase(Locale.ROOT);
        if (Identifiers.residentIdProblem(residentId, LocalDate.now(ZoneId.of("Asia/Shanghai"))).isPresent()) {
            refuse(context, "govlinkNationalIdInvalid");
            return;
        }
        RealmModel realm = context.getRealm();
        KeycloakSession session = context.getSession();
        UserModel user = context.getUser();
        if (user != null && !residentId.equalsIgnoreCase(user.getUsername())) {
            LOG.warnf("national identity %s does not match the linked account", Identifiers.mask(residentId));
            refuse(context, "govlinkNationalIdMismatch");
            return;
        }
        if (user == null) {
            user = session.users().getUserByUsername(realm, residentId);
        }
        if (user == null) {
            user = session.users().addUser(realm, residentId.toLowerCase(Locale.ROOT));
            user.setEnabled(true);
            RoleModel citizen = realm.getRole("citizen");
            if (citizen != null) {
                user.grantRole(citizen);
            }
        }
        if (!user.isEnabled()) {
            refuse(context, "govlinkNationalIdMismatch");
            return;
        }
        raiseToVerified(user, broker);
        context.setUser(user);
        context.success();
    }

    /** L2 with the upstream as its source, and the name it verified (a higher level is left alone). */
    static void raiseToVerified(UserModel user, BrokeredIdentityContext broker) {
        int level = level(user.getFirstAttribute("assurance_level"));
        if (level >= 2) {
            return;
        }
        if (broker.getLastName() != null && !broker.getLastName().isBlank()) {
            user.setLastName(broker.getLastName());
        }
        if (broker.getFirstName() != null && !broker.getFirstName().isBlank()) {
            user.setFirstName(broker.getFirstName());
        }
        user.setSingleAttribute("assurance_level", "2");
        user.setSingleAttribute("assurance_source", "national-idp:" + broker.getIdpConfig().getAlias());
        user.setSingleAttribute("assurance_verified_at", Instant.now().toString());
    }

    static int level(String value) {
        try {
            return value == null ? 0 : Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static void refuse(AuthenticationFlowContext context, String message) {
        Response page = context.form().setError(message).createErrorPage(Response.Status.FORBIDDEN);
        context.failureChallenge(AuthenticationFlowError.INVALID_USER, page);
    }

    @Override
    public void action(AuthenticationFlowContext context) {
        authenticate(context);
    }

    @Override
    public boolean requiresUser() {
        return false;
    }

    @Override
    public boolean configuredFor(KeycloakSession session, RealmModel realm, UserModel user) {
        return true;
    }

    @Override
    public void setRequiredActions(KeycloakSession session, RealmModel realm, UserModel user) {
    }

    @Override
    public void close() {
    }
}
