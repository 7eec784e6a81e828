"""SMS gateway: Tencent Cloud SMS API 3.0 (TC3-HMAC-SHA256), profile in config/sms.yaml.

`tc3` holds the signature (pure functions, checked against Tencent's published example);
`profile` reads the profile and refuses development secrets in production; `client` sends.
Keycloak's SMS authenticator (keycloak-providers, `sms` package) signs the same way in Java and
gets the same profile through the realm (`config.realm_signin`).
"""
