package cn.gov.hefei.govlink.keycloak.sms;

import java.net.URI;

import org.keycloak.models.RealmModel;

/**
 * The SMS gateway and code policy of a realm, from its {@code govlink.sms.*} attributes (written by
 * {@code govlink realm apply} from config/sms.yaml). The clock offset is honoured only when
 * {@code govlink.sms.test-clock} is "true", which apply never writes with GOVLINK_ENV=production.
 */
public record SmsSettings(String endpoint, String secretId, String secretKey, String sdkAppId, String signName,
                          String region, String templateSignin, String templateReset, String templateVerify,
                          int codeLength, long ttlSeconds, int maxAttempts, long lockSeconds, long resendSeconds,
                          int dailyPerPhone, int dailyPerIp, long clockOffsetSeconds) {

    public static final String PREFIX = "govlink.sms.";

    public static SmsSettings of(RealmModel realm) {
        boolean testClock = "true".equals(realm.getAttribute(PREFIX + "test-clock"));
        return new SmsSettings(
                text(realm, "endpoint", "http://127.0.0.1:8100/tencent-sms"), text(realm, "secret-id", ""),
                text(realm, "secret-key", ""), text(realm, "sdk-app-id", ""), text(realm, "sign-name", ""),
                text(realm, "region", "ap-guangzhou"), text(realm, "template.signin", ""),
                text(realm, "template.reset", ""), text(realm, "template.verify", ""),
                (int) number(realm, "code-length", 6), number(realm, "ttl-seconds", 300),
                (int) number(realm, "max-attempts", 5), number(realm, "lock-seconds", 900),
                number(realm, "resend-seconds", 60), (int) number(realm, "daily-per-phone", 10),
                (int) number(realm, "daily-per-ip", 30), testClock ? number(realm, "clock-offset-seconds", 0) : 0);
    }

    public String templateFor(String purpose) {
        switch (purpose) {
            case "reset":
                return templateReset;
            case "verify":
                return templateVerify;
            default:
                return templateSignin;
        }
    }

    /** host[:port] of the endpoint: what the request is signed with. */
    public String host() {
        URI uri = URI.create(endpoint);
        return uri.getPort() < 0 ? uri.getHost() : uri.getHost() + ":" + uri.getPort();
    }

    private static String text(RealmModel realm, String name, String fallback) {
        String value = realm.getAttribute(PREFIX + name);
        return value == null || value.isBlank() ? fallback : value;
    }

    private static long number(RealmModel realm, String name, long fallback) {
        try {
            return Long.parseLong(text(realm, name, Long.toString(fallback)).trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }
}
