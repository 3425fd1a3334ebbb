import { FormEvent, useState } from "react";
import { Link, useSearchParams } from "react-router";

import { ApiClient, ApiError, FieldProblem } from "../api/client";
import { signupErrorMessage } from "../ui/messages";
import { ErrorAlert } from "../ui/Alert";

type Field = "username" | "email" | "password";

/** Create an account (only shown when the server says sign-up is open). */
export function SignupPage({ api, open, onSignedIn }: { api: ApiClient; open: boolean; onSignedIn: () => Promise<void> }) {
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const [error, setError] = useState("");
  const [checkMail, setCheckMail] = useState("");

  if (!open) {
    return (
      <div style={{ maxWidth: 480 }}>
        <h1 className="h3 mb-3">Create an account</h1>
        <p>Sign-up is closed on this site: ask its operator for an account.</p>
        <Link to="/">Back to sign in</Link>
      </div>
    );
  }

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    setProblems([]);
    setError("");
    const missing: Partial<Record<Field, string>> = {};
    if (!username.trim()) missing.username = "Choose a username.";
    if (!email.includes("@")) missing.email = "Enter a valid email address.";
    if (!password) missing.password = "Choose a password.";
    if (Object.keys(missing).length) return setErrors(missing);
    setBusy(true);
    try {
      const r = await api.signup(username.trim(), email.trim(), password);
      setPassword("");
      if (r.signedIn) await onSignedIn();
      else setCheckMail(r.detail);
    } catch (e) {
      if (e instanceof ApiError && e.code === "password_invalid") setProblems(e.errors);
      else if (e instanceof ApiError && (e.code === "username_taken" || e.code === "invalid_username"))
        setErrors({ username: signupErrorMessage(e) });
      else if (e instanceof ApiError && (e.code === "email_taken" || e.code === "invalid_email"))
        setErrors({ email: signupErrorMessage(e) });
      else setError(signupErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  if (checkMail) {
    return (
      <div style={{ maxWidth: 480 }}>
        <h1 className="h3 mb-3">Create an account</h1>
        <div className="alert alert-success" role="status" data-testid="signup-check-mail">
          {checkMail} The link works once; check your spam folder if nothing arrives.
        </div>
        <Link to="/">Back to sign in</Link>
      </div>
    );
  }

  const field = (id: Field, label: string, type: string, value: string, set: (v: string) => void, autoComplete: string) => (
    <div className="mb-3">
      <label htmlFor={`signup-${id}`} className="form-label">
        {label}
      </label>
      <input
        id={`signup-${id}`}
        type={type}
        className={`form-control${errors[id] || (id === "password" && problems.length) ? " is-invalid" : ""}`}
        autoComplete={autoComplete}
        value={value}
        onChange={(e) => set(e.target.value)}
        aria-invalid={errors[id] ? true : undefined}
        aria-describedby={errors[id] ? `signup-${id}-error` : undefined}
      />
      {errors[id] && (
        <div id={`signup-${id}-error`} className="invalid-feedback">
          {errors[id]}
        </div>
      )}
    </div>
  );

  return (
    <div style={{ maxWidth: 480 }}>
      <h1 className="h3 mb-3">Create an account</h1>
      <form onSubmit={onSubmit} noValidate data-testid="signup-form">
        {field("username", "Username", "text", username, setUsername, "username")}
        {field("email", "Email address", "email", email, setEmail, "email")}
        {field("password", "Password", "password", password, setPassword, "new-password")}
        {problems.length > 0 && (
          <ul className="invalid-feedback d-block ps-3" data-testid="signup-problems">
            {problems.map((p) => (
              <li key={p.code + p.message}>{p.message}</li>
            ))}
          </ul>
        )}
        {error && (
          <ErrorAlert testId="signup-error">
            {error}
          </ErrorAlert>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Creating…" : "Create the account"}
        </button>
      </form>
      <p className="mt-4">
        Already have an account? <Link to="/">Sign in</Link>
      </p>
    </div>
  );
}

/** The page the verification link opens: one click confirms the address. */
export function VerifyEmailPage({ api, onVerified }: { api: ApiClient; onVerified: () => void }) {
  const [params] = useSearchParams();
  const key = params.get("key") ?? "";
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState("");

  // A click, not an automatic request on load: link scanners in mail
  // systems open links, and must not confirm addresses for people.
  async function onConfirm() {
    setBusy(true);
    setError("");
    try {
      await api.verifyEmail(key);
      setDone(true);
      onVerified();
    } catch (e) {
      setError(signupErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div style={{ maxWidth: 480 }}>
      <h1 className="h3 mb-3">Confirm your email address</h1>
      {!key ? (
        <div className="alert alert-warning" role="alert">
          This page needs the link from the email we sent you.
        </div>
      ) : done ? (
        <div className="alert alert-success" role="status" data-testid="email-verified">
          Your email address is confirmed. <Link to="/">Continue</Link>
        </div>
      ) : (
        <>
          <p>Confirm that this address is yours to finish setting up your account.</p>
          {error && (
            <ErrorAlert testId="verify-error">
              {error}
            </ErrorAlert>
          )}
          <button type="button" className="btn btn-primary" onClick={() => void onConfirm()} disabled={busy}>
            {busy ? "Confirming…" : "Confirm my address"}
          </button>
        </>
      )}
    </div>
  );
}
