package cn.gov.hefei.govlink.keycloak.sms;

import jakarta.ws.rs.core.MultivaluedHashMap;
import jakarta.ws.rs.core.MultivaluedMap;

import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.authenticators.browser.UsernamePasswordForm;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.UserModel;
import org.keycloak.models.credential.PasswordCredentialModel;

/**
 * Keycloak's username-and-password form (passkeys included), where the "username" may also be a
 * verified mobile phone number ("身份证号码 / 手机号"), and whose "sign in by SMS" button
 * ({@code govlink_method=sms}) moves on to the next alternative of the flow, {@code govlink-sms-otp}.
 *
 * <p>A phone number is looked up among verified phones only; the page shown after a failure keeps
 * what the person typed (never the ID number behind a phone), and an unknown number fails like a
 * wrong password.
 */
public class GovlinkPasswordForm extends UsernamePasswordForm {

    public GovlinkPasswordForm(KeycloakSession session) {
        super(session);
    }

    @Override
    public void action(AuthenticationFlowContext context) {
        MultivaluedMap<String, String> form = context.getHttpRequest().getDecodedFormParameters();
        if ("sms".equals(form.getFirst("govlink_method"))) {
            context.attempted();
            return;
        }
        String phone = SmsRules.normalisePhone(form.getFirst("username"));
        if (phone == null || form.containsKey("cancel")) {
            super.action(context);
            return;
        }
        MultivaluedMap<String, String> byUsername = new MultivaluedHashMap<>();
        form.forEach((name, values) -> byUsername.put(name, values));
        String username = new SmsCodes(context.getSession(), context.getRealm()).userOfPhone(phone)
                .map(UserModel::getUsername).orElse(phone);
        byUsername.putSingle("username", username);
        if (validateForm(context, byUsername)) {
            // Recorded like Keycloak's own form: the SMS second factor's condition asks whether a password was used.
            context.success(PasswordCredentialModel.TYPE);
        }
    }
}
