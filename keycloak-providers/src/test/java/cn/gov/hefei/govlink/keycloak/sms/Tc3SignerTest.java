package cn.gov.hefei.govlink.keycloak.sms;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

/** Tencent Cloud's published "Signature v3" example (CVM DescribeInstances, 1551113065, EXAMPLE keys). */
class Tc3SignerTest {

    static final byte[] BODY = "{\"Limit\": 1, \"Filters\": [{\"Values\": [\"\\u672a\\u547d\\u540d\"], \"Name\": \"instance-name\"}]}"
            .getBytes(StandardCharsets.UTF_8);

    @Test
    void publishedExampleStepByStep() {
        String canonical = Tc3Signer.canonicalRequest(BODY, "cvm.tencentcloudapi.com");
        assertEquals("POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
                + "content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064", canonical);
        String toSign = Tc3Signer.stringToSign(canonical, 1551113065L, "cvm");
        assertEquals("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
                + "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031", toSign);
        assertEquals("72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
                Tc3Signer.signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", toSign, 1551113065L, "cvm"));
    }

    @Test
    void publishedExampleAuthorization() {
        assertEquals("TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
                + "SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
                Tc3Signer.authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", BODY,
                        "cvm.tencentcloudapi.com", 1551113065L, "cvm"));
    }
}
