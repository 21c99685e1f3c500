import type { AuthClient, AuthState, MfaRequired, PasskeyCeremonies, SignInInput, SignOutOptions, SignUpInput, User } from "./index.js";

export interface UseAuth {
  state: AuthState;
  user: User | null;
  auth: AuthClient;
  signUp(input: SignUpInput): Promise<User>;
  signIn(input: SignInInput): Promise<User | MfaRequired>;
  signOut(options?: SignOutOptions): Promise<void>;
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  passkeys: PasskeyCeremonies;
}

/** The client's state and user (re-rendering on each change) and its methods; `auth` defaults to the first client made. Server rendering sees `loading`. */
export function useAuth(auth?: AuthClient): UseAuth;

/** The signed-in user, or `null`. */
export function useUser(auth?: AuthClient): User | null;
