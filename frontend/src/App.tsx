import { FormEvent, useEffect, useState } from "react";

import { ApiClient, ApiError } from "./api/client";

type View = { kind: "loading" } | { kind: "anonymous" } | { kind: "signedIn"; username: string } | { kind: "broken"; message: string };

/** What a person should read for a failed login. */
export function loginErrorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.isNetworkError) return "Cannot reach the server. Check your connection and try again.";
    if (e.status === 400) return "Wrong username or password.";
    if (e.status === 429) return "Too many attempts. Please wait a moment and try again.";
    if (e.status === 403) return `The server refused the request: ${e.detail}`;
    if (e.status === 503) return "The server is busy. Please try again in a moment.";
    return `Unexpected error (${e.status}): ${e.detail}`;
  }
  return "Unexpected error.";
}

export default function App({ api }: { api: ApiClient }) {
  const [view, setView] = useState<View>({ kind: "loading" });
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [whoami, setWhoami] = useState("");

  async function showSignedIn() {
    const name = await api.whoami();
    setView(name ? { kind: "signedIn", username: name } : { kind: "anonymous" });
  }

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const s = await api.session();
        if (cancelled) return;
        if (s.isAuthenticated) await showSignedIn();
        else setView({ kind: "anonymous" });
      } catch (e) {
        if (!cancelled) setView({ kind: "broken", message: loginErrorMessage(e) });
      }
    })();
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  async function onLogin(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      await api.login(username, password);
      setPassword("");
      setUsername("");
      setWhoami("");
      await showSignedIn();
    } catch (e) {
      setError(loginErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  async function onWhoami() {
    try {
      const name = await api.whoami();
      setWhoami(name ? `You are ${name}.` : "You are not logged in.");
    } catch (e) {
      setWhoami(loginErrorMessage(e));
    }
  }

  async function onLogout() {
    setBusy(true);
    try {
      await api.logout();
      setWhoami("");
      setView({ kind: "anonymous" });
    } catch (e) {
      setWhoami(loginErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="container mt-5" style={{ maxWidth: 480 }}>
      <h1 className="h3 mb-4">Latchkey</h1>
      {view.kind === "loading" && (
        <p className="text-secondary" role="status" data-testid="loading">
          Loading…
        </p>
      )}
      {view.kind === "broken" && (
        <div className="alert alert-danger" role="alert">
          {view.message}
        </div>
      )}
      {view.kind === "anonymous" && (
        <form onSubmit={onLogin} data-testid="login-form" noValidate>
          <div className="mb-3">
            <label htmlFor="username" className="form-label">
              Username
            </label>
            <input
              id="username"
              className="form-control"
              name="username"
              autoComplete="username"
              autoFocus
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
          </div>
          <div className="mb-3">
            <label htmlFor="password" className="form-label">
              Password
            </label>
            <input
              id="password"
              className="form-control"
              type="password"
              name="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          {error && (
            <div className="alert alert-danger" role="alert" data-testid="login-error">
              {error}
            </div>
          )}
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Logging in…" : "Log in"}
          </button>
        </form>
      )}
      {view.kind === "signedIn" && (
        <div data-testid="signed-in">
          <p className="lead" data-testid="greeting">
            You are logged in as {view.username}
          </p>
          <div className="d-flex gap-2">
            <button type="button" className="btn btn-outline-primary" onClick={onWhoami}>
              WhoAmI
            </button>
            <button type="button" className="btn btn-danger" onClick={onLogout} disabled={busy}>
              Log out
            </button>
          </div>
          {whoami && (
            <p className="mt-3" data-testid="whoami">
              {whoami}
            </p>
          )}
        </div>
      )}
    </main>
  );
}
