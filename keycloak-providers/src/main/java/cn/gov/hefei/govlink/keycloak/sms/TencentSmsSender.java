package cn.gov.hefei.govlink.keycloak.sms;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.keycloak.util.JsonSerialization;

/** Sends one message with Tencent Cloud SMS (SendSms, API 2021-01-11), signed with TC3-HMAC-SHA256. */
public class TencentSmsSender {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

    /** The gateway refused or could not be reached; {@code code} is Tencent's error code. */
    public static class SmsException extends Exception {
        public final String code;

        public SmsException(String code, String message) {
            super(code + ": " + message);
            this.code = code;
        }
    }

    static byte[] body(SmsSettings s, String phone, String templateId, List<String> params) throws IOException {
        return JsonSerialization.writeValueAsBytes(Map.of("PhoneNumberSet", List.of("+86" + phone),
                "SmsSdkAppId", s.sdkAppId(), "SignName", s.signName(), "TemplateId", templateId,
                "TemplateParamSet", params));
    }

    @SuppressWarnings("unchecked")
    public void send(SmsSettings s, String phone, String templateId, List<String> params) throws SmsException {
        try {
            byte[] body = body(s, phone, templateId, params);
            long timestamp = System.currentTimeMillis() / 1000; // real time: the gateway checks it
            HttpRequest request = HttpRequest.newBuilder(URI.create(s.endpoint() + "/"))
                    .timeout(Duration.ofSeconds(5))
                    .header("Authorization", Tc3Signer.authorization(s.secretId(), s.secretKey(), body, s.host(),
                            timestamp, "sms"))
                    .header("Content-Type", Tc3Signer.CONTENT_TYPE)
                    .header("X-TC-Action", "SendSms").header("X-TC-Version", "2021-01-11")
                    .header("X-TC-Timestamp", Long.toString(timestamp)).header("X-TC-Region", s.region())
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
            HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            Map<String, Object> answer = (Map<String, Object>) JsonSerialization.readValue(response.body(), Map.class)
                    .get("Response");
            if (answer == null) {
                throw new SmsException("InternalError", "HTTP " + response.statusCode());
            }
            Map<String, Object> error = (Map<String, Object>) answer.get("Error");
            if (error != null) {
                throw new SmsException(String.valueOf(error.get("Code")), String.valueOf(error.get("Message")));
            }
            List<Map<String, Object>> statuses = (List<Map<String, Object>>) answer.get("SendStatusSet");
            if (statuses == null || statuses.isEmpty() || !"Ok".equals(statuses.get(0).get("Code"))) {
                throw new SmsException("FailedOperation", String.valueOf(statuses));
            }
        } catch (IOException e) {
            throw new SmsException("NetworkError", e.getClass().getSimpleName());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SmsException("NetworkError", "interrupted");
        }
    }
}
