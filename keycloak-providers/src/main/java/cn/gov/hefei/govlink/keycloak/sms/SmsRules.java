package cn.gov.hefei.govlink.keycloak.sms;

/**
 * The decisions about one-time codes, as pure functions of the state and the time (seconds): when
 * a phone may get another message, when a wrong code locks it. {@link SmsCodes} keeps the state.
 */
public final class SmsRules {

    public enum Send { OK, LOCKED, TOO_SOON, DAILY_LIMIT }

    /** What is known about one phone number across sign-in attempts (registered or not). */
    public record PhoneState(long lastSent, int failures, long lockedUntil) {
        public static final PhoneState NEW = new PhoneState(0, 0, 0);
    }

    private SmsRules() {
    }

    public static boolean locked(PhoneState state, long now) {
        return state.lockedUntil() > now;
    }

    /** Whether a message may go out now to this phone from this address. */
    public static Send canSend(SmsSettings s, PhoneState state, int sentTodayToPhone, int sentTodayFromIp, long now) {
        if (locked(state, now)) {
            return Send.LOCKED;
        }
        if (state.lastSent() > 0 && now - state.lastSent() < s.resendSeconds()) {
            return Send.TOO_SOON;
        }
        if (sentTodayToPhone >= s.dailyPerPhone() || sentTodayFromIp >= s.dailyPerIp()) {
            return Send.DAILY_LIMIT;
        }
        return Send.OK;
    }

    /** Seconds until the next message may go out (0: now). */
    public static long waitSeconds(SmsSettings s, PhoneState state, long now) {
        return Math.max(0, Math.max(state.lastSent() + s.resendSeconds() - now, state.lockedUntil() - now));
    }

    public static PhoneState afterSend(PhoneState state, long now) {
        return new PhoneState(now, state.failures(), state.lockedUntil());
    }

    /** A wrong (or expired) code: the max-th one in a row locks the phone for lock-seconds. */
    public static PhoneState afterFailure(SmsSettings s, PhoneState state, long now) {
        int failures = state.failures() + 1;
        if (failures >= s.maxAttempts()) {
            return new PhoneState(state.lastSent(), 0, now + s.lockSeconds());
        }
        return new PhoneState(state.lastSent(), failures, state.lockedUntil());
    }

    public static PhoneState afterSuccess(PhoneState state) {
        return new PhoneState(state.lastSent(), 0, 0);
    }

    public static boolean expired(long expiresAt, long now) {
        return now >= expiresAt;
    }

    /** Mainland mobile numbers: 11 digits starting 13-19 (a leading +86 is dropped). */
    public static String normalisePhone(String input) {
        if (input == null) {
            return null;
        }
        String digits = input.replaceAll("[\\s-]", "");
        if (digits.startsWith("+86")) {
            digits = digits.substring(3);
        }
        return digits.matches("1[3-9][0-9]{9}") ? digits : null;
    }
}
