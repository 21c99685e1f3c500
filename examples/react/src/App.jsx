import { useState } from "react";
import { useAuth } from "keyward/react";

/** Counts renders, so the end-to-end test can tell that a change renders a bounded number of times. */
function counted() {
  window.renders = (window.renders ?? 0) + 1;
}

function SignIn({ signIn, signUp }) {
  const [error, setError] = useState(null);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const input = { email: form.get("email"), password: form.get("password") };
    setError(null);
    try {
      await (event.nativeEvent.submitter?.value === "sign-up" ? signUp(input) : signIn(input));
    } catch (e) {
      setError(`${e.code}: ${e.message}`);
    }
  }
  return (
    <form onSubmit={submit}>
      <input name="email" type="email" placeholder="email" autoComplete="username" required />
      <input name="password" type="password" placeholder="password" autoComplete="current-password" required />
      <button value="sign-in">Sign in</button>
      <button value="sign-up">Sign up</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}

export function App() {
  counted();
  const { state, user, signIn, signUp, signOut } = useAuth();
  return (
    <main data-state={state}>
      <h1>Keyward + React</h1>
      {state === "loading" && <p>Loading…</p>}
      {state === "signedOut" && <SignIn signIn={signIn} signUp={signUp} />}
      {(state === "signedIn" || state === "offline") && (
        <section>
          <p>
            Signed in as <span id="email">{user.email}</span>
            {state === "offline" && " (offline)"}
          </p>
          <button onClick={() => signOut()}>Sign out</button>
        </section>
      )}
    </main>
  );
}
