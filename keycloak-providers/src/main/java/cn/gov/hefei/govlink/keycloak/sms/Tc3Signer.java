package cn.gov.hefei.govlink.keycloak.sms;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Tencent Cloud API 3.0 signature, TC3-HMAC-SHA256 (the same as connectors/sms/tc3.py on the
 * Python side; both are tested against Tencent's published example).
 */
public final class Tc3Signer {

    public static final String ALGORITHM = "TC3-HMAC-SHA256";
    public static final String CONTENT_TYPE = "application/json; charset=utf-8";
    static final String SIGNED_HEADERS = "content-type;host";

    private Tc3Signer() {
    }

    static String utcDate(long timestamp) {
        return DateTimeFormatter.ISO_LOCAL_DATE.format(Instant.ofEpochSecond(timestamp).atOffset(ZoneOffset.UTC));
    }

    static String canonicalRequest(byte[] payload, String host) {
        String headers = "content-type:" + CONTENT_TYPE + "\nhost:" + host.toLowerCase() + "\n";
        return "POST\n/\n\n" + headers + "\n" + SIGNED_HEADERS + "\n" + sha256Hex(payload);
    }

    static String stringToSign(String canonical, long timestamp, String service) {
        return ALGORITHM + "\n" + timestamp + "\n" + utcDate(timestamp) + "/" + service + "/tc3_request\n"
                + sha256Hex(canonical.getBytes(StandardCharsets.UTF_8));
    }

    static String signature(String secretKey, String toSign, long timestamp, String service) {
        byte[] key = hmac(("TC3" + secretKey).getBytes(StandardCharsets.UTF_8), utcDate(timestamp));
        key = hmac(hmac(key, service), "tc3_request");
        return HexFormat.of().formatHex(hmac(key, toSign));
    }

    /** The Authorization header of a JSON POST of {@code payload} to {@code host}. */
    public static String authorization(String secretId, String secretKey, byte[] payload, String host, long timestamp,
                                       String service) {
        String toSign = stringToSign(canonicalRequest(payload, host), timestamp, service);
        return ALGORITHM + " Credential=" + secretId + "/" + utcDate(timestamp) + "/" + service + "/tc3_request, "
                + "SignedHeaders=" + SIGNED_HEADERS + ", Signature=" + signature(secretKey, toSign, timestamp, service);
    }

    static String sha256Hex(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] hmac(byte[] key, String message) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(message.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
