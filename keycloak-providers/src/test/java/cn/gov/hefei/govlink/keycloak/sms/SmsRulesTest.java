package cn.gov.hefei.govlink.keycloak.sms;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import cn.gov.hefei.govlink.keycloak.sms.SmsRules.PhoneState;
import cn.gov.hefei.govlink.keycloak.sms.SmsRules.Send;

/** Resend, daily and attempt limits with an explicit clock (seconds), never by sleeping. */
class SmsRulesTest {

    static final SmsSettings S = new SmsSettings("http://127.0.0.1:1/tencent-sms", "id", "key", "app", "sign", "r",
            "1", "2", "3", 6, 300, 5, 900, 60, 10, 30, 0);
    static final long T = 1_800_000_000L;

    @Test
    void resendWaitsSixtySeconds() {
        PhoneState sent = SmsRules.afterSend(PhoneState.NEW, T);
        assertEquals(Send.TOO_SOON, SmsRules.canSend(S, sent, 1, 1, T + 59));
        assertEquals(1, SmsRules.waitSeconds(S, sent, T + 59));
        assertEquals(Send.OK, SmsRules.canSend(S, sent, 1, 1, T + 60));
    }

    @Test
    void dailyCapsPerPhoneAndPerAddress() {
        assertEquals(Send.DAILY_LIMIT, SmsRules.canSend(S, PhoneState.NEW, 10, 0, T));
        assertEquals(Send.DAILY_LIMIT, SmsRules.canSend(S, PhoneState.NEW, 0, 30, T));
        assertEquals(Send.OK, SmsRules.canSend(S, PhoneState.NEW, 9, 29, T));
    }

    @Test
    void fifthWrongCodeLocksForLockSeconds() {
        PhoneState state = PhoneState.NEW;
        for (int i = 0; i < 4; i++) {
            state = SmsRules.afterFailure(S, state, T);
            assertFalse(SmsRules.locked(state, T));
        }
        state = SmsRules.afterFailure(S, state, T);
        assertTrue(SmsRules.locked(state, T));
        assertEquals(Send.LOCKED, SmsRules.canSend(S, state, 0, 0, T + 899));
        assertFalse(SmsRules.locked(state, T + 900));
        assertEquals(Send.OK, SmsRules.canSend(S, state, 0, 0, T + 900));
    }

    @Test
    void successForgetsEarlierFailures() {
        PhoneState state = SmsRules.afterFailure(S, SmsRules.afterFailure(S, PhoneState.NEW, T), T);
        assertEquals(0, SmsRules.afterSuccess(state).failures());
    }

    @Test
    void codesExpireAfterTheirTtl() {
        assertFalse(SmsRules.expired(T + 300, T + 299));
        assertTrue(SmsRules.expired(T + 300, T + 300));
    }

    @Test
    void phoneNumbers() {
        assertEquals("13800138000", SmsRules.normalisePhone("+86 138-0013-8000"));
        assertNull(SmsRules.normalisePhone("12800138000"));
        assertNull(SmsRules.normalisePhone("340104198506150213"));
    }
}
