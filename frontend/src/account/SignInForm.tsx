import { FormEvent, ReactNode, useState } from "react";

import { ApiClient, ApiError, OidcProvider } from "../api/client";
import { passkeysSupported, signWithPasskey } from "./passkeys";
import { loginErrorMessage } from "../ui/messages";
import { ErrorAlert } from "../ui/Alert";

type Props = {
  api: ApiClient;
  /** Prefix of the inputs' ids ("" on the site, "admin-" in the admin). */
  idPrefix: string;
  /** `data-testid` of the form, and of its error (default `${testId}-error`). */
  testId: string;
  errorTestId?: string;
  submit: string;
  submitting: string;
  /** Beside the button (a "forgot your password?" link). */
  aside?: ReactNode;
  /** OpenID Connect providers to offer a "Sign in with …" button for. */
  providers?: OidcProvider[];
  /** Where a provider's sign-in comes back to (a path on this site). */
  providerNext?: string;
  /** A sign-in that waits for its second factor (after a provider's redirect back): these methods. */
  pendingMethods?: string[];
  onSignedIn: () => void | Promise<void>;
};

/** Username and password, the error in words, one submit: the site's and the admin's sign-in. */
export default function SignInForm({
  api,
  idPrefix,
  testId,
  errorTestId,
  submit,
  submitting,
  aside,
  providers = [],
  providerNext,
  pendingMethods,
  onSignedIn,
}: Props) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  /** The password was right; a second factor is asked for. */
  const [secondStep, setSecondStep] = useState(pendingMethods !== undefined);
  /** The factors the second step accepts ("totp", "webauthn", "recovery_code"). */
  const [methods, setMethods] = useState<string[]>(pendingMethods ?? []);
  /** The first step was a provider's sign-in rather than the password. */
  const [viaProvider, setViaProvider] = useState(pendingMethods !== undefined);
  const [code, setCode] = useState("");
  const canPasskey = passkeysSupported();
  const id = (name: string) => `${idPrefix}${name}`;

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      await api.login(username, password);
      setPassword("");
      await onSignedIn();
    } catch (e) {
      if (e instanceof ApiError && e.code === "mfa_required") {
        setPassword("");
        setMethods(e.methods);
        setViaProvider(false);
        setSecondStep(true);
      } else {
        setError(loginErrorMessage(e));
      }
      setBusy(false);
    }
  }

  async function onCode(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      await api.secondFactor(code.trim());
      await onSignedIn();
    } catch (e) {
      setError(loginErrorMessage(e));
      if (e instanceof ApiError && e.code === "mfa_not_pending") setSecondStep(false);
      setCode("");
      setBusy(false);
    }
  }

  /** Runs a passkey ceremony (sign-in, or a second step); the error in words if it fails. */
  async function withPasskey(action: () => Promise<void>) {
    setBusy(true);
    setError("");
    try {
      await action();
      await onSignedIn();
    } catch (e) {
      setError(loginErrorMessage(e));
      if (e instanceof ApiError && e.code === "mfa_not_pending") setSecondStep(false);
      setBusy(false);
    }
  }

  if (secondStep) {
    const passkey = canPasskey && methods.includes("webauthn");
    const codes = methods.includes("totp") || methods.includes("recovery_code") || !passkey;
    const ways = [methods.includes("totp") && "your authenticator app", passkey && "your passkey"].filter(Boolean);
    return (
      <form onSubmit={onCode} data-testid={`${testId}-second-factor`} noValidate>
        <p>
          {viaProvider ? "You are almost signed in." : "Your password was right."} Now prove it is you
          {ways.length ? ` with ${ways.join(" or ")}` : ""}.
        </p>
        {passkey && (
          <div className="mb-3">
            <button
              type="button"
              className="btn btn-primary"
              data-testid={`${testId}-use-passkey`}
              disabled={busy}
              onClick={() => withPasskey(() => api.secondFactorPasskey(signWithPasskey))}
            >
              Use your passkey
            </button>
          </div>
        )}
        {codes && (
        <div className="mb-3">
          <label htmlFor={id("code")} className="form-label">
            {methods.includes("totp") ? "Code from your authenticator app, or a recovery code" : "A recovery code"}
          </label>
          <input
            id={id("code")}
            className="form-control"
            name="code"
            inputMode="text"
            autoComplete="one-time-code"
            autoFocus
            value={code}
            onChange={(e) => setCode(e.target.value)}
          />
        </div>
        )}
        {error && (
          <ErrorAlert testId={errorTestId ?? `${testId}-error`}>
            {error}
          </ErrorAlert>
        )}
        <div className="d-flex align-items-center gap-3">
          {codes && (
            <button
              type="submit"
              className={passkey ? "btn btn-outline-primary" : "btn btn-primary"}
              disabled={busy || code.trim() === ""}
            >
              {busy ? submitting : "Verify"}
            </button>
          )}
          <button
            type="button"
            className="btn btn-link"
            onClick={() => {
              setSecondStep(false);
              setError("");
            }}
          >
            Start over
          </button>
        </div>
      </form>
    );
  }

  return (
    <form onSubmit={onSubmit} data-testid={testId} noValidate>
      <div className="mb-3">
        <label htmlFor={id("username")} className="form-label">
          Username
        </label>
        <input
          id={id("username")}
          className="form-control"
          name="username"
          autoComplete="username"
          autoFocus
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
      </div>
      <div className="mb-3">
        <label htmlFor={id("password")} className="form-label">
          Password
        </label>
        <input
          id={id("password")}
          className="form-control"
          type="password"
          name="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </div>
      {error && (
        <ErrorAlert testId={errorTestId ?? `${testId}-error`}>
          {error}
        </ErrorAlert>
      )}
      <div className="d-flex align-items-center gap-3">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? submitting : submit}
        </button>
        {aside}
      </div>
      {providers.length > 0 && (
        <div className="mt-3 pt-3 border-top d-flex flex-wrap gap-2" data-testid={`${testId}-providers`}>
          {providers.map((p) => (
            <a
              key={p.id}
              className="btn btn-outline-dark"
              href={api.oidcStartUrl(p.id, providerNext)}
              data-testid={`${testId}-oidc-${p.id}`}
            >
              Sign in with {p.name}
            </a>
          ))}
        </div>
      )}
      {canPasskey && (
        <div className="mt-3 pt-3 border-top">
          <button
            type="button"
            className="btn btn-outline-primary"
            data-testid={`${testId}-passkey`}
            disabled={busy}
            onClick={() => withPasskey(() => api.passkeyLogin(signWithPasskey))}
          >
            Sign in with a passkey
          </button>
          <p className="form-text mb-0">No password: your device unlocks with your fingerprint, face or PIN.</p>
        </div>
      )}
    </form>
  );
}
