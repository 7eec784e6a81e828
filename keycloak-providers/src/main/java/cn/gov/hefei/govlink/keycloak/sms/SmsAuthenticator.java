package cn.gov.hefei.govlink.keycloak.sms;

import java.util.Optional;

import jakarta.ws.rs.core.MultivaluedMap;
import jakarta.ws.rs.core.Response;

import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.Authenticator;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;

import cn.gov.hefei.govlink.keycloak.sms.SmsCodes.Outcome;

/**
 * Sign-in (or password reset) by mobile phone and SMS code, or the SMS code as a second factor.
 *
 * <p>By phone ({@code secondFactor} false): the person types a number; whether or not a verified
 * account has it, the page answers the same ("if this number is registered, a code was sent") and
 * the same limits apply; only a registered number gets a message. A right code identifies the one
 * account whose verified phone it is. As second factor: the code goes to the signed-in user's
 * verified phone. {@code purpose} (signin, reset) picks the message template.
 */
public class SmsAuthenticator implements Authenticator {

    private final boolean secondFactor;
    private final String purpose;

    public SmsAuthenticator(boolean secondFactor, String purpose) {
        this.secondFactor = secondFactor;
        this.purpose = purpose;
    }

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        SmsCodes codes = new SmsCodes(context.getSession(), context.getRealm());
        if (!secondFactor) {
            context.challenge(SmsForms.render(context.form(), "phone", purpose, null, null, codes));
            return;
        }
        String phone = verifiedPhone(context.getUser());
        if (phone == null) {
            context.attempted(); // no verified phone: this factor does not apply (configuredFor is false)
            return;
        }
        Outcome outcome = codes.request(context.getAuthenticationSession(), phone, ip(context), "signin", true);
        context.challenge(SmsForms.render(context.form(), "code", "second-factor", phone, outcome, codes));
    }

    @Override
    public void action(AuthenticationFlowContext context) {
        MultivaluedMap<String, String> form = context.getHttpRequest().getDecodedFormParameters();
        SmsCodes codes = new SmsCodes(context.getSession(), context.getRealm());
        String stagePurpose = secondFactor ? "second-factor" : purpose;
        if ("password".equals(form.getFirst("govlink_method")) && !secondFactor) {
            context.resetFlow(); // back to the first page: ID number (or phone) and password
            return;
        }
        if (form.containsKey("send") || form.containsKey("resend")) {
            String phone = secondFactor ? verifiedPhone(context.getUser())
                    : form.containsKey("resend") ? codes.phoneOf(context.getAuthenticationSession())
                    : SmsRules.normalisePhone(form.getFirst("phone"));
            if (phone == null) {
                context.challenge(SmsForms.render(context.form(), "phone", stagePurpose, form.getFirst("phone"),
                        Outcome.INVALID_PHONE, codes));
                return;
            }
            boolean registered = secondFactor || codes.userOfPhone(phone).isPresent();
            Outcome outcome = codes.request(context.getAuthenticationSession(), phone, ip(context), purpose, registered);
            String stage = outcome == Outcome.LOCKED && !secondFactor ? "phone" : "code";
            context.challenge(SmsForms.render(context.form(), stage, stagePurpose, phone, outcome, codes));
            return;
        }
        String phone = codes.phoneOf(context.getAuthenticationSession());
        Outcome outcome = codes.check(context.getAuthenticationSession(), form.getFirst("code"));
        if (outcome == Outcome.OK) {
            Optional<UserModel> user = secondFactor ? Optional.ofNullable(context.getUser())
                    .filter(u -> phone.equals(verifiedPhone(u))) : codes.userOfPhone(phone);
            if (user.isPresent() && user.get().isEnabled()) {
                context.setUser(user.get());
                context.success();
                return;
            }
            outcome = Outcome.WRONG; // a guessed code of an unregistered number: the same answer as a wrong one
        }
        String stage = outcome == Outcome.LOCKED && !secondFactor ? "phone" : "code";
        Response page = SmsForms.render(context.form(), stage, stagePurpose, phone, outcome, codes);
        context.failureChallenge(AuthenticationFlowError.INVALID_CREDENTIALS, page);
    }

    static String verifiedPhone(UserModel user) {
        if (user == null || !"true".equals(user.getFirstAttribute("phone_number_verified"))) {
            return null;
        }
        return SmsRules.normalisePhone(user.getFirstAttribute("phone_number"));
    }

    static String ip(AuthenticationFlowContext context) {
        return context.getConnection() == null ? "" : context.getConnection().getRemoteAddr();
    }

    @Override
    public boolean requiresUser() {
        return secondFactor;
    }

    @Override
    public boolean configuredFor(KeycloakSession session, RealmModel realm, UserModel user) {
        return !secondFactor || verifiedPhone(user) != null;
    }

    @Override
    public void setRequiredActions(KeycloakSession session, RealmModel realm, UserModel user) {
        if (secondFactor) {
            user.addRequiredAction(VerifyPhoneRequiredAction.ID);
        }
    }

    @Override
    public void close() {
    }
}
