package cn.gov.hefei.govlink.keycloak.sms;

import jakarta.ws.rs.core.MultivaluedMap;

import org.keycloak.Config;
import org.keycloak.authentication.InitiatedActionSupport;
import org.keycloak.authentication.RequiredActionContext;
import org.keycloak.authentication.RequiredActionFactory;
import org.keycloak.authentication.RequiredActionProvider;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.models.UserModel;

import cn.gov.hefei.govlink.keycloak.sms.SmsCodes.Outcome;

/**
 * Required action {@code govlink-verify-phone}: the person proves a mobile number with an SMS code
 * before it is trusted (phone_number_verified=true): only then does it sign in, get codes as a
 * second factor and reset the password. Also started by a channel with
 * {@code kc_action=govlink-verify-phone}.
 */
public class VerifyPhoneRequiredAction implements RequiredActionProvider, RequiredActionFactory {

    public static final String ID = "govlink-verify-phone";

    /**
     * A channel may start it with {@code kc_action}: Keycloak's default is NOT_SUPPORTED, and then it
     * skips the action (kc_action_status=error) instead of showing the form.
     */
    @Override
    public InitiatedActionSupport initiatedActionSupport() {
        return InitiatedActionSupport.SUPPORTED;
    }

    @Override
    public void evaluateTriggers(RequiredActionContext context) {
    }

    @Override
    public void requiredActionChallenge(RequiredActionContext context) {
        SmsCodes codes = new SmsCodes(context.getSession(), context.getRealm());
        String phone = SmsRules.normalisePhone(context.getUser().getFirstAttribute("phone_number"));
        context.challenge(SmsForms.render(context.form(), "phone", "verify", phone, null, codes));
    }

    @Override
    public void processAction(RequiredActionContext context) {
        MultivaluedMap<String, String> form = context.getHttpRequest().getDecodedFormParameters();
        SmsCodes codes = new SmsCodes(context.getSession(), context.getRealm());
        UserModel user = context.getUser();
        if (form.containsKey("send") || form.containsKey("resend")) {
            String phone = form.containsKey("resend") ? codes.phoneOf(context.getAuthenticationSession())
                    : SmsRules.normalisePhone(form.getFirst("phone"));
            if (phone == null) {
                context.challenge(SmsForms.render(context.form(), "phone", "verify", form.getFirst("phone"),
                        Outcome.INVALID_PHONE, codes));
                return;
            }
            String ip = context.getConnection() == null ? "" : context.getConnection().getRemoteAddr();
            Outcome outcome = codes.request(context.getAuthenticationSession(), phone, ip, "verify", true);
            String stage = outcome == Outcome.LOCKED ? "phone" : "code";
            context.challenge(SmsForms.render(context.form(), stage, "verify", phone, outcome, codes));
            return;
        }
        String phone = codes.phoneOf(context.getAuthenticationSession());
        Outcome outcome = codes.check(context.getAuthenticationSession(), form.getFirst("code"));
        if (outcome == Outcome.OK) {
            boolean takenByAnother = codes.userOfPhone(phone).filter(other -> !other.getId().equals(user.getId())).isPresent();
            if (takenByAnother) {
                context.challenge(context.form().setError("govlinkSmsPhoneTaken").setAttribute("smsStage", "phone")
                        .setAttribute("smsPurpose", "verify").setAttribute("smsPhone", "")
                        .setAttribute("smsMaskedPhone", "").setAttribute("smsPasswordAlternative", false)
                        .createForm(SmsForms.TEMPLATE));
                return;
            }
            user.setSingleAttribute("phone_number", phone);
            user.setSingleAttribute("phone_number_verified", "true");
            context.success();
            return;
        }
        String stage = outcome == Outcome.LOCKED ? "phone" : "code";
        context.challenge(SmsForms.render(context.form(), stage, "verify", phone, outcome, codes));
    }

    @Override
    public RequiredActionProvider create(KeycloakSession session) {
        return this;
    }

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayText() {
        return "Verify mobile phone (govlink)";
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
