// keyward/email: the address's verification and change. `email(auth).sendVerification()`,
// `.confirm(token)`, `.change(newEmail, {redirectTo})`, `.confirmChange(token)`.
import { call, camel, open } from "./internal.js";

export function email(auth) {
  // The signed-in user's object follows what a confirmation changed.
  const confirmed = async (data) => {
    if (auth.user?.id == data.user.id) await auth.reloadUser();
    return camel(data.user);
  };
  return {
    /** Sends (again) the verification mail to the signed-in user's address. */
    sendVerification: () => call(auth, "POST", "/email/verification").then(() => {}),
    /** Confirms an address with the `token` of its verification link; resolves with the user. */
    confirm: (token) => open(auth, "/email/verification/confirm", { token }).then(confirmed),
    /** Asks to move to `newEmail` (needs a recent sign-in): a link goes there, a notice to the current address. */
    change: (newEmail, options) =>
      call(auth, "POST", "/email/change", { new_email: newEmail, redirect_to: options?.redirectTo }).then(() => {}),
    /** Confirms a change with the `token` of the link sent to the new address; resolves with the user. */
    confirmChange: (token) => open(auth, "/email/change/confirm", { token }).then(confirmed),
  };
}
