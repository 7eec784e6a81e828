<#-- govlink SMS steps (keycloak-providers sms package): smsStage "phone" (enter a number) or "code". -->
<#import "template.ftl" as layout>
<@layout.registrationLayout displayMessage=true; section>
    <#if section = "header">
        ${msg("govlinkSmsTitle." + smsPurpose)}
    <#elseif section = "form">
        <form id="govlink-sms-form" class="${properties.kcFormClass!}" action="${url.loginAction}" method="post">
            <#if smsStage == "phone">
                <div class="${properties.kcFormGroupClass!}">
                    <label for="phone" class="${properties.kcLabelClass!}">${msg("govlinkSmsPhoneLabel")}</label>
                    <span class="${properties.kcInputClass!}">
                        <input id="phone" name="phone" type="tel" inputmode="numeric" autocomplete="tel" autofocus value="${smsPhone}"/>
                    </span>
                </div>
                <div class="${properties.kcFormGroupClass!}">
                    <button class="${properties.kcButtonPrimaryClass!} ${properties.kcButtonBlockClass!}" type="submit"
                            id="govlink-sms-send" name="send" value="1">${msg("govlinkSmsSend")}</button>
                </div>
            <#else>
                <#if smsMaskedPhone?has_content><p id="govlink-sms-sent-to">${msg("govlinkSmsCodeSentTo", smsMaskedPhone)}</p></#if>
                <div class="${properties.kcFormGroupClass!}">
                    <label for="code" class="${properties.kcLabelClass!}">${msg("govlinkSmsCodeLabel")}</label>
                    <span class="${properties.kcInputClass!}">
                        <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" autofocus/>
                    </span>
                </div>
                <div class="${properties.kcFormGroupClass!}">
                    <button class="${properties.kcButtonPrimaryClass!} ${properties.kcButtonBlockClass!}" type="submit"
                            id="govlink-sms-submit" name="verify" value="1">${msg("govlinkSmsSubmit")}</button>
                    <button class="${properties.kcButtonSecondaryClass!} ${properties.kcButtonBlockClass!}" type="submit"
                            id="govlink-sms-resend" name="resend" value="1" formnovalidate>${msg("govlinkSmsResend")}</button>
                </div>
            </#if>
            <#if smsPasswordAlternative>
                <div class="${properties.kcFormGroupClass!}">
                    <button class="${properties.kcButtonSecondaryClass!} ${properties.kcButtonBlockClass!}" type="submit"
                            id="govlink-use-password" name="govlink_method" value="password" formnovalidate>${msg("govlinkSmsUsePassword")}</button>
                </div>
            </#if>
            <#if isAppInitiatedAction??>
                <div class="${properties.kcFormGroupClass!}">
                    <button class="${properties.kcButtonSecondaryClass!} ${properties.kcButtonBlockClass!}" type="submit"
                            id="govlink-sms-cancel" name="cancel-aia" value="true" formnovalidate>${msg("doCancel")}</button>
                </div>
            </#if>
        </form>
    </#if>
</@layout.registrationLayout>
