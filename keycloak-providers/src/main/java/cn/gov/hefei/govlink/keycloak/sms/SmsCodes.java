package cn.gov.hefei.govlink.keycloak.sms;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

import org.jboss.logging.Logger;
import org.keycloak.common.util.Time;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.SingleUseObjectProvider;
import org.keycloak.models.UserModel;
import org.keycloak.sessions.AuthenticationSessionModel;

import cn.gov.hefei.govlink.keycloak.sms.SmsRules.PhoneState;
import cn.gov.hefei.govlink.keycloak.sms.SmsRules.Send;

/**
 * Sends and checks one-time codes. The code lives in the authentication session (hashed, with its
 * expiry, removed once used); what must hold across sessions (last send, wrong codes, lock, daily
 * counts per phone and per address) lives in Keycloak's single-use object store, keyed by a hash
 * of the phone. Registered or not, a phone is treated the same way, except that only a registered
 * (verified) phone is actually sent a message, and off the request thread: the gateway's round trip
 * must not make the answer for a registered number slower than for an unregistered one.
 */
public class SmsCodes {

    public enum Outcome { SENT, INVALID_PHONE, LOCKED, TOO_SOON, DAILY_LIMIT, OK, WRONG }

    static final String NOTE_PHONE = "govlink.sms.phone";
    static final String NOTE_HASH = "govlink.sms.code-hash";
    static final String NOTE_EXPIRES = "govlink.sms.expires";
    private static final Logger LOG = Logger.getLogger(SmsCodes.class);
    private static final ZoneId BEIJING = ZoneId.of("Asia/Shanghai");
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Delivers messages in the background (a full queue drops the message, logged: the page is the same). */
    static final Executor DELIVERY = delivery();

    private final KeycloakSession session;
    private final RealmModel realm;
    private final SmsSettings settings;
    private final TencentSmsSender sender;
    private final Executor delivery;

    public SmsCodes(KeycloakSession session, RealmModel realm) {
        this(session, realm, SmsSettings.of(realm), new TencentSmsSender(), DELIVERY);
    }

    SmsCodes(KeycloakSession session, RealmModel realm, SmsSettings settings, TencentSmsSender sender,
             Executor delivery) {
        this.session = session;
        this.realm = realm;
        this.settings = settings;
        this.sender = sender;
        this.delivery = delivery;
    }

    public SmsSettings settings() {
        return settings;
    }

    public long now() {
        return Time.currentTime() + settings.clockOffsetSeconds();
    }

    /** The one user whose verified phone this is, if any. */
    public Optional<UserModel> userOfPhone(String phone) {
        List<UserModel> users = session.users().searchForUserByUserAttributeStream(realm, "phone_number", phone)
                .filter(u -> "true".equals(u.getFirstAttribute("phone_number_verified"))).limit(2).toList();
        return users.size() == 1 ? Optional.of(users.get(0)) : Optional.empty();
    }

    /** A new code for {@code phone}, sent if {@code send} (a registered phone), within the limits. */
    public Outcome request(AuthenticationSessionModel auth, String phone, String ip, String purpose, boolean send) {
        long now = now();
        PhoneState state = state(phone);
        String day = LocalDate.ofInstant(Instant.ofEpochSecond(now), BEIJING).toString();
        String phoneDay = "govlink-sms:day:" + realm.getId() + ":" + hash(phone) + ":" + day;
        String ipDay = "govlink-sms:day-ip:" + realm.getId() + ":" + hash(ip == null ? "" : ip) + ":" + day;
        Send decision = SmsRules.canSend(settings, state, count(phoneDay), count(ipDay), now);
        if (decision != Send.OK) {
            return Outcome.valueOf(decision.name());
        }
        String code = newCode(settings.codeLength());
        auth.setAuthNote(NOTE_PHONE, phone);
        auth.setAuthNote(NOTE_HASH, hash(auth.getParentSession().getId() + ":" + code));
        auth.setAuthNote(NOTE_EXPIRES, Long.toString(now + settings.ttlSeconds()));
        save(phone, SmsRules.afterSend(state, now));
        increment(phoneDay);
        increment(ipDay);
        if (send) {
            String template = settings.templateFor(purpose);
            List<String> params = List.of(code, Long.toString(Math.max(1, settings.ttlSeconds() / 60)));
            try {
                delivery.execute(() -> deliver(phone, template, params, purpose));
            } catch (RejectedExecutionException e) {
                LOG.warnf("SMS not sent (%s): delivery queue full", purpose);
            }
        }
        return Outcome.SENT; // the same answer, registered or not, delivered or not
    }

    private void deliver(String phone, String template, List<String> params, String purpose) {
        try {
            sender.send(settings, phone, template, params);
        } catch (TencentSmsSender.SmsException e) {
            LOG.warnf("SMS not sent (%s): %s", purpose, e.code);
        } catch (RuntimeException e) {
            LOG.warnf("SMS not sent (%s): %s", purpose, e.getClass().getSimpleName());
        }
    }

    private static Executor delivery() {
        ThreadPoolExecutor pool = new ThreadPoolExecutor(4, 4, 60, TimeUnit.SECONDS, new ArrayBlockingQueue<>(1000),
                task -> {
                    Thread thread = new Thread(task, "govlink-sms-delivery");
                    thread.setDaemon(true);
                    return thread;
                });
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    /** Checks {@code code} against the session's code: OK once, WRONG (counted) or LOCKED. */
    public Outcome check(AuthenticationSessionModel auth, String code) {
        String phone = auth.getAuthNote(NOTE_PHONE);
        if (phone == null) {
            return Outcome.WRONG;
        }
        long now = now();
        PhoneState state = state(phone);
        if (SmsRules.locked(state, now)) {
            return Outcome.LOCKED;
        }
        String expected = auth.getAuthNote(NOTE_HASH);
        long expires = Long.parseLong(auth.getAuthNote(NOTE_EXPIRES) == null ? "0" : auth.getAuthNote(NOTE_EXPIRES));
        String given = hash(auth.getParentSession().getId() + ":" + (code == null ? "" : code.trim()));
        boolean match = expected != null && MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                given.getBytes(StandardCharsets.UTF_8));
        if (match && !SmsRules.expired(expires, now)) {
            auth.removeAuthNote(NOTE_HASH); // single use
            auth.removeAuthNote(NOTE_EXPIRES);
            save(phone, SmsRules.afterSuccess(state));
            return Outcome.OK;
        }
        PhoneState after = SmsRules.afterFailure(settings, state, now);
        save(phone, after);
        return SmsRules.locked(after, now) ? Outcome.LOCKED : Outcome.WRONG;
    }

    public String phoneOf(AuthenticationSessionModel auth) {
        return auth.getAuthNote(NOTE_PHONE);
    }

    public long waitSeconds(String phone) {
        return SmsRules.waitSeconds(settings, state(phone), now());
    }

    PhoneState state(String phone) {
        Map<String, String> notes = store().get(phoneKey(phone));
        if (notes == null) {
            return PhoneState.NEW;
        }
        return new PhoneState(Long.parseLong(notes.getOrDefault("lastSent", "0")),
                Integer.parseInt(notes.getOrDefault("failures", "0")),
                Long.parseLong(notes.getOrDefault("lockedUntil", "0")));
    }

    private void save(String phone, PhoneState state) {
        Map<String, String> notes = new HashMap<>();
        notes.put("lastSent", Long.toString(state.lastSent()));
        notes.put("failures", Integer.toString(state.failures()));
        notes.put("lockedUntil", Long.toString(state.lockedUntil()));
        String key = phoneKey(phone);
        store().remove(key);
        store().put(key, lifespan(), notes);
    }

    private int count(String key) {
        Map<String, String> notes = store().get(key);
        return notes == null ? 0 : Integer.parseInt(notes.getOrDefault("count", "0"));
    }

    private void increment(String key) {
        int next = count(key) + 1;
        store().remove(key);
        store().put(key, lifespan(), Map.of("count", Integer.toString(next)));
    }

    private long lifespan() {
        // Timestamps inside decide; the store only has to keep them long enough (two days, plus a test offset).
        return 2 * 86400 + Math.abs(settings.clockOffsetSeconds());
    }

    private String phoneKey(String phone) {
        return "govlink-sms:phone:" + realm.getId() + ":" + hash(phone);
    }

    private SingleUseObjectProvider store() {
        return session.singleUseObjects();
    }

    static String newCode(int length) {
        StringBuilder code = new StringBuilder();
        for (int i = 0; i < length; i++) {
            code.append(RANDOM.nextInt(10));
        }
        return code.toString();
    }

    static String hash(String text) {
        return Tc3Signer.sha256Hex(text.getBytes(StandardCharsets.UTF_8));
    }
}
