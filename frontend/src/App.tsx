import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, Navigate, NavLink, Route, Routes, useNavigate } from "react-router";

import AccountPage from "./account/AccountPage";
import MfaSetupRequired from "./account/MfaSetupRequired";
import { ForgotPassword, ResetPassword } from "./account/PasswordReset";
import { SignupPage, VerifyEmailPage } from "./account/Signup";
import SignInForm from "./account/SignInForm";
import { useReauth } from "./account/reauth";
import { takeQueryParam } from "./account/oidc";
import { loginErrorMessage, oidcErrorMessage } from "./ui/messages";
import { returnPath } from "./account/returnPath";
import { useOidcProviders } from "./account/useOidcProviders";
import { ApiClient } from "./api/client";
import { ErrorAlert } from "./ui/Alert";

type View =
  | { kind: "loading" }
  | { kind: "anonymous"; notice?: string; pending?: string[] }
  | { kind: "signedIn"; username: string }
  | { kind: "setupMfa"; username: string }
  | { kind: "broken"; message: string };

export { loginErrorMessage };

export default function App({ api }: { api: ApiClient }) {
  const [view, setView] = useState<View>({ kind: "loading" });
  const [signupOpen, setSignupOpen] = useState(false);
  const navigate = useNavigate();

  const { sensitive, dialog } = useReauth(api);
  // A guarded page behind the proxy sent the browser here to sign in first.
  const next = useMemo(() => returnPath(window.location.search, window.location.origin), []);
  // A provider sent the browser back without signing it in: why, once.
  const [providerError] = useState(() => {
    const code = takeQueryParam("loginError");
    return code ? oidcErrorMessage(code) : "";
  });


  const showSignedIn = useCallback(async () => {
    const s = await api.session();
    if (s.isAuthenticated && s.mfaSetupRequired) {
      setView({ kind: "setupMfa", username: s.username ?? "" });
      return;
    }
    const name = await api.whoami();
    setView(name ? { kind: "signedIn", username: name } : { kind: "anonymous" });
  }, [api]);

  /** Signed in through the form: back to the guarded page, if one sent us here. */
  const afterSignIn = useCallback(async () => {
    if (next) {
      const s = await api.session();
      if (s.isAuthenticated && !s.mfaSetupRequired) {
        window.location.assign(next);
        return;
      }
    }
    await showSignedIn();
  }, [api, next, showSignedIn]);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const s = await api.session();
        if (cancelled) return;
        setSignupOpen(s.signupOpen === true);
        if (s.isAuthenticated) await showSignedIn();
        else setView({ kind: "anonymous", pending: s.mfaPending });
      } catch (e) {
        if (!cancelled) setView({ kind: "broken", message: loginErrorMessage(e) });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [api, showSignedIn]);

  /** The session ended (here or elsewhere): back to the sign-in form. */
  const signedOut = useCallback(
    (notice?: string) => {
      setView({ kind: "anonymous", notice });
      navigate("/", { replace: true });
    },
    [navigate],
  );

  const signedIn = view.kind === "signedIn";
  return (
    <>
      <nav className="navbar navbar-expand bg-body-tertiary border-bottom" aria-label="Main">
        <div className="container" style={{ maxWidth: 880 }}>
          <Link className="navbar-brand" to="/">
            Latchkey
          </Link>
          {signedIn && (
            <ul className="navbar-nav">
              <li className="nav-item">
                <NavLink className="nav-link" to="/" end>
                  Home
                </NavLink>
              </li>
              <li className="nav-item">
                <NavLink className="nav-link" to="/account" data-testid="nav-account">
                  Account
                </NavLink>
              </li>
            </ul>
          )}
        </div>
      </nav>
      <main className="container mt-4" style={{ maxWidth: 880 }}>
        {view.kind === "loading" && (
          <p className="text-secondary" role="status" data-testid="loading">
            Loading…
          </p>
        )}
        {view.kind === "broken" && (
          <ErrorAlert>
            {view.message}
          </ErrorAlert>
        )}
        {view.kind === "setupMfa" && (
          <>
            <MfaSetupRequired api={api} username={view.username} sensitive={sensitive} onDone={showSignedIn} />
            <button
              type="button"
              className="btn btn-link px-0 mt-3"
              onClick={async () => {
                await api.logout().catch(() => undefined);
                signedOut();
              }}
            >
              Log out
            </button>
            {dialog}
          </>
        )}
        {(view.kind === "anonymous" || view.kind === "signedIn") && (
          <Routes>
            <Route
              path="/"
              element={
                view.kind === "signedIn" ? (
                  <Home api={api} username={view.username} onSignedOut={signedOut} />
                ) : (
                  <LoginForm
                    api={api}
                    notice={view.notice}
                    providerError={providerError}
                    pending={view.pending}
                    next={next}
                    signupOpen={signupOpen}
                    onSignedIn={afterSignIn}
                  />
                )
              }
            />
            <Route
              path="/account"
              element={
                view.kind === "signedIn" ? (
                  <AccountPage api={api} username={view.username} onSignedOut={signedOut} />
                ) : (
                  <Navigate to="/" replace />
                )
              }
            />
            <Route path="/forgot-password" element={<ForgotPassword api={api} />} />
            <Route
              path="/signup"
              element={
                view.kind === "signedIn" ? (
                  <Navigate to="/" replace />
                ) : (
                  <SignupPage
                    api={api}
                    open={signupOpen}
                    onSignedIn={async () => {
                      await showSignedIn();
                      navigate("/", { replace: true });
                    }}
                  />
                )
              }
            />
            <Route path="/verify-email" element={<VerifyEmailPage api={api} onVerified={() => {}} />} />
            <Route
              path="/reset-password"
              element={<ResetPassword api={api} onReset={() => setView({ kind: "anonymous" })} />}
            />
            <Route path="*" element={<NotFound />} />
          </Routes>
        )}
      </main>
    </>
  );
}

function LoginForm({
  api,
  notice,
  providerError,
  pending,
  next,
  signupOpen,
  onSignedIn,
}: {
  api: ApiClient;
  notice?: string;
  providerError: string;
  pending?: string[];
  next: string | null;
  signupOpen: boolean;
  onSignedIn: () => Promise<void>;
}) {
  const providers = useOidcProviders(api);
  return (
    <div style={{ maxWidth: 480 }}>
      <h1 className="h3 mb-4">Sign in</h1>
      {notice && (
        <div className="alert alert-info" role="status" data-testid="signed-out-notice">
          {notice}
        </div>
      )}
      {providerError && (
        <ErrorAlert testId="oidc-error">
          {providerError}
        </ErrorAlert>
      )}
      {next && (
        <p className="alert alert-secondary" role="status" data-testid="return-notice">
          Sign in to continue to <code>{next}</code>.
        </p>
      )}
      <SignInForm
        api={api}
        idPrefix=""
        testId="login-form"
        errorTestId="login-error"
        submit="Log in"
        submitting="Logging in…"
        aside={<Link to="/forgot-password">Forgot your password?</Link>}
        providers={providers}
        providerNext={next?.startsWith("/") ? next : undefined}
        pendingMethods={pending}
        onSignedIn={onSignedIn}
      />
      {signupOpen && (
        <p className="mt-4">
          New here? <Link to="/signup">Create an account</Link>
        </p>
      )}
    </div>
  );
}

function Home({
  api,
  username,
  onSignedOut,
}: {
  api: ApiClient;
  username: string;
  onSignedOut: (notice?: string) => void;
}) {
  const [whoami, setWhoami] = useState("");
  const [busy, setBusy] = useState(false);

  async function onWhoami() {
    try {
      const name = await api.whoami();
      if (name) setWhoami(`You are ${name}.`);
      else onSignedOut("Your session has ended. Please sign in again.");
    } catch (e) {
      setWhoami(loginErrorMessage(e));
    }
  }

  async function onLogout() {
    setBusy(true);
    try {
      await api.logout();
      onSignedOut();
    } catch (e) {
      setWhoami(loginErrorMessage(e));
      setBusy(false);
    }
  }

  return (
    <div data-testid="signed-in" style={{ maxWidth: 480 }}>
      <h1 className="h3 mb-4">Welcome</h1>
      <p className="lead" data-testid="greeting">
        You are logged in as {username}
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
        <p className="mt-3" data-testid="whoami" role="status">
          {whoami}
        </p>
      )}
      <p className="mt-4">
        <Link to="/account">Manage your account</Link>: see where you are signed in, end sessions, change your password.
      </p>
    </div>
  );
}

function NotFound() {
  return (
    <div>
      <h1 className="h3 mb-3">Page not found</h1>
      <p>
        There is nothing at this address. <Link to="/">Go to the start page</Link>.
      </p>
    </div>
  );
}
