package cn.gov.hefei.govlink.keycloak.sms;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.keycloak.authentication.InitiatedActionSupport;

/** Issue 21: a channel starts the phone verification with kc_action=govlink-verify-phone. */
class VerifyPhoneRequiredActionTest {

    @Test
    void channelsMayStartItWithKcAction() {
        // NOT_SUPPORTED (Keycloak's default) makes Keycloak skip the action with kc_action_status=error.
        assertEquals(InitiatedActionSupport.SUPPORTED, new VerifyPhoneRequiredAction().initiatedActionSupport());
    }

    @Test
    void itsIdIsTheRealmsAlias() {
        assertEquals("govlink-verify-phone", new VerifyPhoneRequiredAction().getId());
    }
}
