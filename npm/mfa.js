// keyward/mfa: a second factor from an authenticator app (TOTP). `mfa(auth).enrol()`,
// `.confirm(code)`, `.verify(ticket, code)`, `.recover(ticket, recoveryCode)`, `.disable(code)`,
// `.regenerateCodes(code)`, `.stepUp(code)`.
import { call, camel, open, user } from "./internal.js";

export function mfa(auth) {
  const codes = (data) => data.recovery_codes;
  const finish = (body) => open(auth, "/mfa/verify", body).then(user);
  return {
    /** Starts adding an app (needs a recent sign-in): `{secret, otpauthUri, qrSvg}`. */
    enrol: () => call(auth, "POST", "/mfa/totp").then(camel),
    /** Confirms the app with its first code; resolves with the ten recovery codes (shown once). */
    confirm: (code) => call(auth, "POST", "/mfa/totp/confirm", { code }).then(codes),
    /** Finishes a sign-in that answered `{mfaRequired, ticket}`, with a code from the app. */
    verify: (ticket, code) => finish({ mfa_ticket: ticket, code }),
    /** The same with a recovery code (each works once). */
    recover: (ticket, recoveryCode) => finish({ mfa_ticket: ticket, recovery_code: recoveryCode }),
    /** Turns the second factor off (a current code or a recovery code, and a recent sign-in). */
    disable: (code) => call(auth, "DELETE", "/mfa/totp", { code }).then(() => {}),
    /** Ten new recovery codes; the old ones stop working. */
    regenerateCodes: (code) => call(auth, "POST", "/mfa/recovery-codes", { code }).then(codes),
    /** Proves a code again from this session: resolves once its new tokens are two-factor and recent. */
    stepUp: (code) => call(auth, "POST", "/mfa/step-up", { code }).then(() => auth.refresh()),
  };
}
