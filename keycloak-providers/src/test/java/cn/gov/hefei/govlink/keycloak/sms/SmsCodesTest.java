package cn.gov.hefei.govlink.keycloak.sms;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.time.ZonedDateTime;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.keycloak.common.util.Time;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.SingleUseObjectProvider;
import org.keycloak.sessions.AuthenticationSessionModel;
import org.keycloak.sessions.RootAuthenticationSessionModel;

import cn.gov.hefei.govlink.keycloak.sms.SmsCodes.Outcome;

/**
 * The code store and its limits end to end, on Keycloak's clock moved by {@link Time#setOffset} (never
 * by sleeping): 5-minute single-use codes, 60 s between messages, daily caps per phone and per
 * address, the lock after five wrong codes, and the same answer for a number no account has.
 */
class SmsCodesTest {

    static final SmsSettings S = SmsRulesTest.S;
    /** 10:00 in Beijing: a day's caps are not split by midnight while the test moves the clock. */
    static final long START = ZonedDateTime.of(2026, 12, 7, 10, 0, 0, 0, ZoneId.of("Asia/Shanghai")).toEpochSecond();

    final Map<String, Map<String, String>> store = new HashMap<>();
    final List<List<String>> sent = new ArrayList<>(); // phone, template, code
    SmsCodes codes;
    KeycloakSession session;
    RealmModel realm;

    @BeforeEach
    void setUp() {
        at(START);
        session = proxy(KeycloakSession.class, (name, args) ->
                name.equals("singleUseObjects") ? proxy(SingleUseObjectProvider.class, this::storeCall) : null);
        realm = proxy(RealmModel.class, (name, args) -> name.equals("getId") ? "realm-1" : null);
        TencentSmsSender recorder = new TencentSmsSender() {
            @Override
            public void send(SmsSettings s, String phone, String templateId, List<String> params) {
                sent.add(List.of(phone, templateId, params.get(0)));
            }
        };
        codes = new SmsCodes(session, realm, S, recorder, Runnable::run);
    }

    @AfterEach
    void tearDown() {
        Time.setOffset(0);
    }

    static void at(long epochSeconds) {
        Time.setOffset((int) (epochSeconds - System.currentTimeMillis() / 1000));
    }

    Object storeCall(String name, Object[] args) {
        switch (name) {
            case "put":
                store.put((String) args[0], new HashMap<>((Map<String, String>) args[2]));
                return null;
            case "get":
                return store.get((String) args[0]);
            case "remove":
                return store.remove((String) args[0]);
            default:
                throw new UnsupportedOperationException(name);
        }
    }

    static AuthenticationSessionModel authSession(String id) {
        Map<String, String> notes = new HashMap<>();
        RootAuthenticationSessionModel root = proxy(RootAuthenticationSessionModel.class,
                (name, args) -> name.equals("getId") ? id : null);
        return proxy(AuthenticationSessionModel.class, (name, args) -> switch (name) {
            case "getParentSession" -> root;
            case "getAuthNote" -> notes.get((String) args[0]);
            case "setAuthNote" -> notes.put((String) args[0], (String) args[1]);
            case "removeAuthNote" -> notes.remove((String) args[0]);
            default -> throw new UnsupportedOperationException(name);
        });
    }

    interface Call {
        Object answer(String name, Object[] args);
    }

    @SuppressWarnings("unchecked")
    static <T> T proxy(Class<T> type, Call call) {
        return (T) Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type},
                (self, method, args) -> method.getName().equals("hashCode") ? 0 : call.answer(method.getName(), args));
    }

    String lastCode() {
        return sent.get(sent.size() - 1).get(2);
    }

    static String wrong(String code) {
        return code.equals("111111") ? "222222" : "111111";
    }

    @Test
    void aCodeIsGoodOnceAndForFiveMinutes() {
        AuthenticationSessionModel auth = authSession("s1");
        assertEquals(Outcome.SENT, codes.request(auth, "13900000001", "10.0.0.1", "signin", true));
        assertEquals(List.of("13900000001", "1", lastCode()), sent.get(0));
        String code = lastCode();
        at(START + 299);
        assertEquals(Outcome.OK, codes.check(auth, code));
        assertEquals(Outcome.WRONG, codes.check(auth, code)); // single use

        AuthenticationSessionModel late = authSession("s2");
        at(START + 600);
        codes.request(late, "13900000002", "10.0.0.1", "signin", true);
        at(START + 900); // exactly 5 minutes later
        assertEquals(Outcome.WRONG, codes.check(late, lastCode()));
    }

    @Test
    void theAnswerDoesNotWaitForTheGatewayNorTellsItsFailure() {
        List<Runnable> queued = new ArrayList<>();
        TencentSmsSender failing = new TencentSmsSender() {
            @Override
            public void send(SmsSettings s, String phone, String templateId, List<String> params) throws SmsException {
                sent.add(List.of(phone, templateId, params.get(0)));
                throw new SmsException("FailedOperation.InsufficientBalanceInSmsPackage", "no balance");
            }
        };
        SmsCodes background = new SmsCodes(session, realm, S, failing, queued::add);
        AuthenticationSessionModel auth = authSession("s1");
        assertEquals(Outcome.SENT, background.request(auth, "13900000001", "10.0.0.1", "signin", true));
        assertTrue(sent.isEmpty()); // answered before the gateway was called
        assertEquals(1, queued.size());
        queued.get(0).run(); // the gateway fails: logged, and the answer was the same
        assertEquals(1, sent.size());
        assertEquals(Outcome.OK, background.check(auth, lastCode()));
    }

    @Test
    void aCodeOfAnotherSessionIsRefused() {
        AuthenticationSessionModel mine = authSession("s1");
        codes.request(mine, "13900000001", "10.0.0.1", "signin", true);
        AuthenticationSessionModel theirs = authSession("s2");
        codes.request(theirs, "13900000009", "10.0.0.1", "signin", true);
        String mineCode = sent.get(0).get(2);
        if (!mineCode.equals(lastCode())) { // one in a million: the same six digits
            assertEquals(Outcome.WRONG, codes.check(theirs, mineCode));
        }
        assertEquals(Outcome.OK, codes.check(theirs, lastCode()));
    }

    @Test
    void resendWaitsSixtySeconds() {
        AuthenticationSessionModel auth = authSession("s1");
        codes.request(auth, "13900000001", "10.0.0.1", "signin", true);
        at(START + 59);
        assertEquals(Outcome.TOO_SOON, codes.request(auth, "13900000001", "10.0.0.1", "signin", true));
        assertEquals(1, codes.waitSeconds("13900000001"));
        at(START + 60);
        assertEquals(Outcome.SENT, codes.request(auth, "13900000001", "10.0.0.1", "signin", true));
        assertEquals(2, sent.size());
    }

    @Test
    void tenMessagesADayToOnePhoneThenTheNextDay() {
        AuthenticationSessionModel auth = authSession("s1");
        for (int i = 0; i < 10; i++) {
            at(START + 60L * i);
            assertEquals(Outcome.SENT, codes.request(auth, "13900000001", "10.0.0." + i, "signin", true));
        }
        at(START + 600);
        assertEquals(Outcome.DAILY_LIMIT, codes.request(auth, "13900000001", "10.0.0.99", "signin", true));
        assertEquals(10, sent.size());
        at(START + 86400);
        assertEquals(Outcome.SENT, codes.request(auth, "13900000001", "10.0.0.99", "signin", true));
    }

    @Test
    void thirtyMessagesADayFromOneAddress() {
        AuthenticationSessionModel auth = authSession("s1");
        for (int i = 0; i < 30; i++) {
            assertEquals(Outcome.SENT, codes.request(auth, "139000001" + String.format("%02d", i), "10.0.0.1", "signin",
                    i % 2 == 0));
        }
        assertEquals(Outcome.DAILY_LIMIT, codes.request(auth, "13900000200", "10.0.0.1", "signin", true));
        assertEquals(Outcome.SENT, codes.request(auth, "13900000200", "10.0.0.2", "signin", true));
    }

    @Test
    void aNumberNoAccountHasGetsTheSameAnswersAndNoMessage() {
        AuthenticationSessionModel auth = authSession("s1");
        assertEquals(Outcome.SENT, codes.request(auth, "13700000001", "10.0.0.1", "signin", false));
        assertTrue(sent.isEmpty());
        at(START + 10);
        assertEquals(Outcome.TOO_SOON, codes.request(auth, "13700000001", "10.0.0.1", "signin", false));
        assertEquals(Outcome.WRONG, codes.check(auth, "123456"));
    }

    @Test
    void theFifthWrongCodeLocksThePhoneForFifteenMinutes() {
        AuthenticationSessionModel auth = authSession("s1");
        codes.request(auth, "13900000001", "10.0.0.1", "signin", true);
        String code = lastCode();
        for (int i = 0; i < 4; i++) {
            assertEquals(Outcome.WRONG, codes.check(auth, wrong(code)));
        }
        assertEquals(Outcome.LOCKED, codes.check(auth, wrong(code)));
        assertEquals(Outcome.LOCKED, codes.check(auth, code)); // even the right code, while locked
        at(START + 899);
        assertEquals(Outcome.LOCKED, codes.request(authSession("s2"), "13900000001", "10.0.0.1", "signin", true));
        at(START + 900);
        AuthenticationSessionModel later = authSession("s3");
        assertEquals(Outcome.SENT, codes.request(later, "13900000001", "10.0.0.1", "signin", true));
        assertEquals(Outcome.OK, codes.check(later, lastCode()));
    }
}
