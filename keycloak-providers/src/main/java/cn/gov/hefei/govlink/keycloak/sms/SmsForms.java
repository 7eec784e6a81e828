package cn.gov.hefei.govlink.keycloak.sms;

import jakarta.ws.rs.core.Response;

import org.keycloak.forms.login.LoginFormsProvider;

import cn.gov.hefei.govlink.keycloak.sms.SmsCodes.Outcome;

/** The one template (govlink-sms.ftl) of every SMS step: stage "phone" (enter a number) or "code". */
final class SmsForms {

    static final String TEMPLATE = "govlink-sms.ftl";

    private SmsForms() {
    }

    /**
     * Renders the stage; {@code purpose} is signin, reset, verify or second-factor; {@code outcome}
     * (may be null) picks the message. Messages never say whether a number is registered.
     */
    static Response render(LoginFormsProvider form, String stage, String purpose, String phone, Outcome outcome,
                           SmsCodes codes) {
        form.setAttribute("smsStage", stage).setAttribute("smsPurpose", purpose)
                .setAttribute("smsPhone", phone == null ? "" : phone)
                .setAttribute("smsMaskedPhone", mask(phone))
                .setAttribute("smsPasswordAlternative", "signin".equals(purpose));
        if (outcome != null) {
            switch (outcome) {
                case SENT:
                    form.setInfo("govlinkSmsSentIfRegistered", Long.toString(codes.settings().ttlSeconds() / 60));
                    break;
                case INVALID_PHONE:
                    form.setError("govlinkSmsInvalidPhone");
                    break;
                case TOO_SOON:
                    form.setError("govlinkSmsTooSoon", Long.toString(codes.waitSeconds(phone)));
                    break;
                case DAILY_LIMIT:
                    form.setError("govlinkSmsDailyLimit");
                    break;
                case LOCKED:
                    form.setError("govlinkSmsLocked", Long.toString(Math.max(1, (codes.waitSeconds(phone) + 59) / 60)));
                    break;
                case WRONG:
                    form.setError("govlinkSmsCodeInvalid");
                    break;
                default:
                    break;
            }
        }
        return form.createForm(TEMPLATE);
    }

    /** 138****8000: what the page shows of a number. */
    static String mask(String phone) {
        if (phone == null || phone.length() != 11) {
            return "";
        }
        return phone.substring(0, 3) + "****" + phone.substring(7);
    }
}
