// keyward/password: forgot, reset, change. `password(auth).forgot(email, {redirectTo})`,
// `.reset(token, password)`, `.change(current, next)`.
import { call, open } from "./internal.js";

export function password(auth) {
  const done = () => {};
  return {
    /** Asks for a reset mail; resolves alike whether or not the address has an account. */
    forgot: (email, options) => open(auth, "/password/forgot", { email, redirect_to: options?.redirectTo }).then(done),
    /** Sets a new password with the `token` of a reset link; every session of the account ends. */
    reset: (token, password) => open(auth, "/password/reset", { token, password }).then(done),
    /** Changes the signed-in user's password (needs the current one and a recent sign-in); the other sessions end. */
    change: (current, next) =>
      call(auth, "POST", "/password/change", { current_password: current, new_password: next }).then(done),
  };
}
