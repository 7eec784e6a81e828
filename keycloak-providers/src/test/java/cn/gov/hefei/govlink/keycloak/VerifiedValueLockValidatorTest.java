package cn.gov.hefei.govlink.keycloak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.keycloak.models.UserModel;
import org.keycloak.userprofile.AttributeContext;
import org.keycloak.userprofile.UserProfileAttributeValidationContext;
import org.keycloak.userprofile.UserProfileContext;
import org.keycloak.validate.ValidationContext;
import org.keycloak.validate.ValidatorConfig;

/** Issue 15 finding 3: a verified person cannot rename themselves; registration and admins can. */
class VerifiedValueLockValidatorTest {

    /** A stored user with this name and level (only the getters the validator reads). */
    static UserModel user(String lastName, String firstName, String level) {
        Map<String, String> attributes = level == null ? Map.of() : Map.of("assurance_level", level);
        return (UserModel) Proxy.newProxyInstance(UserModel.class.getClassLoader(), new Class<?>[] {UserModel.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "getFirstName" -> firstName;
                    case "getLastName" -> lastName;
                    case "getFirstAttribute" -> attributes.get((String) args[0]);
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    static ValidationContext validate(UserProfileContext where, UserModel user, String attribute, List<String> values) {
        AttributeContext attributeContext = new AttributeContext(where, null, Map.entry(attribute, values), user, null, null);
        ValidationContext context = new UserProfileAttributeValidationContext(attributeContext);
        return new VerifiedValueLockValidator().validate(values, attribute, context, ValidatorConfig.EMPTY);
    }

    @Test
    void verifiedPersonCannotChangeTheirName() {
        for (String level : List.of("2", "3")) {
            UserModel verified = user("钱", "已验", level);
            for (UserProfileContext where : List.of(UserProfileContext.ACCOUNT, UserProfileContext.UPDATE_PROFILE,
                    UserProfileContext.IDP_REVIEW)) {
                ValidationContext refused = validate(where, verified, "firstName", List.of("伟"));
                assertFalse(refused.isValid(), where + " L" + level);
                assertEquals(VerifiedValueLockValidator.MESSAGE_LOCKED, refused.getErrors().iterator().next().getMessage());
                assertFalse(validate(where, verified, "lastName", List.of("张")).isValid());
                assertFalse(validate(where, verified, "lastName", List.of()).isValid());
                assertTrue(validate(where, verified, "firstName", List.of("已验")).isValid());
                assertTrue(validate(where, verified, "lastName", List.of("钱")).isValid());
            }
        }
    }

    @Test
    void unverifiedRegistrationAndAdminsMayChangeIt() {
        assertTrue(validate(UserProfileContext.ACCOUNT, user("钱", "未验", "1"), "firstName", List.of("伟")).isValid());
        assertTrue(validate(UserProfileContext.ACCOUNT, user("钱", "未验", null), "firstName", List.of("伟")).isValid());
        assertTrue(validate(UserProfileContext.REGISTRATION, null, "firstName", List.of("伟")).isValid());
        assertTrue(validate(UserProfileContext.USER_API, user("钱", "已验", "3"), "firstName", List.of("伟")).isValid());
    }

    /** A stored user with a phone and its verification flag. */
    static UserModel phoneUser(String phone, String verified) {
        Map<String, String> attributes = verified == null ? Map.of("phone_number", phone)
                : Map.of("phone_number", phone, "phone_number_verified", verified);
        return (UserModel) Proxy.newProxyInstance(UserModel.class.getClassLoader(), new Class<?>[] {UserModel.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "getFirstAttribute" -> attributes.get((String) args[0]);
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    static ValidationContext validatePhone(UserProfileContext where, UserModel user, List<String> values) {
        AttributeContext attributeContext = new AttributeContext(where, null, Map.entry("phone_number", values), user,
                null, null);
        ValidationContext context = new UserProfileAttributeValidationContext(attributeContext);
        ValidatorConfig config = new ValidatorConfig(Map.of(VerifiedValueLockValidator.LEVEL_ATTRIBUTE,
                "phone_number_verified", VerifiedValueLockValidator.MIN_LEVEL, "1"));
        return new VerifiedValueLockValidator().validate(values, "phone_number", context, config);
    }

    @Test
    void aVerifiedPhoneIsChangedOnlyByVerifyingTheNewOne() {
        // Issue 21: a person changed phone_number in the account console and kept phone_number_verified.
        UserModel verified = phoneUser("13900001111", "true");
        for (UserProfileContext where : List.of(UserProfileContext.ACCOUNT, UserProfileContext.UPDATE_PROFILE,
                UserProfileContext.IDP_REVIEW)) {
            assertFalse(validatePhone(where, verified, List.of("13900002222")).isValid(), where.toString());
            assertFalse(validatePhone(where, verified, List.of()).isValid(), where.toString());
            assertTrue(validatePhone(where, verified, List.of("13900001111")).isValid(), where.toString());
        }
        assertTrue(validatePhone(UserProfileContext.ACCOUNT, phoneUser("13900001111", "false"),
                List.of("13900002222")).isValid());
        assertTrue(validatePhone(UserProfileContext.ACCOUNT, phoneUser("13900001111", null),
                List.of("13900002222")).isValid());
        assertTrue(validatePhone(UserProfileContext.USER_API, verified, List.of("13900002222")).isValid());
    }

    @Test
    void messageBundlesHaveTheKey() throws Exception {
        for (String bundle : List.of("messages_en.properties", "messages_zh_CN.properties")) {
            java.util.Properties messages = new java.util.Properties();
            try (var in = getClass().getResourceAsStream("/theme-resources/messages/" + bundle)) {
                messages.load(new java.io.InputStreamReader(in, java.nio.charset.StandardCharsets.UTF_8));
            }
            assertTrue(messages.containsKey(VerifiedValueLockValidator.MESSAGE_LOCKED), bundle);
        }
    }
}
