import { FormEvent, useState } from "react";
import { Link, useSearchParams } from "react-router";

import { ApiClient, ApiError, FieldProblem } from "../api/client";
import NewPasswordFields from "./NewPasswordFields";
import { resetErrorMessage } from "../ui/messages";
import { ErrorAlert } from "../ui/Alert";

/** "Forgot your password?": asks for the address, always answers the same. */
export function ForgotPassword({ api }: { api: ApiClient }) {
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [done, setDone] = useState("");

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setError("");
    if (!email.includes("@")) return setError("Enter a valid email address.");
    setBusy(true);
    try {
      setDone(await api.requestPasswordReset(email.trim()));
    } catch (e) {
      setError(resetErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div style={{ maxWidth: 480 }}>
      <h1 className="h3 mb-3">Forgot your password?</h1>
      {done ? (
        <div className="alert alert-success" role="status" data-testid="reset-requested">
          <p className="mb-2">{done}</p>
          <p className="mb-0">The link works once, for a limited time. Check your spam folder if nothing arrives.</p>
        </div>
      ) : (
        <form onSubmit={onSubmit} noValidate data-testid="forgot-form">
          <p>Enter the email address of your account and we will send you a link to choose a new password.</p>
          <div className="mb-3">
            <label htmlFor="reset-email" className="form-label">
              Email address
            </label>
            <input
              id="reset-email"
              type="email"
              className={`form-control${error ? " is-invalid" : ""}`}
              autoComplete="email"
              autoFocus
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? "reset-email-error" : undefined}
            />
            {error && (
              <div id="reset-email-error" className="invalid-feedback" role="alert">
                {error}
              </div>
            )}
          </div>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Sending…" : "Send me a link"}
          </button>
        </form>
      )}
      <p className="mt-4">
        <Link to="/">Back to sign in</Link>
      </p>
    </div>
  );
}

/** The page the mailed link opens: choose a new password. */
export function ResetPassword({ api, onReset }: { api: ApiClient; onReset: () => void }) {
  const [params] = useSearchParams();
  const key = params.get("key") ?? "";
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const [confirmError, setConfirmError] = useState("");
  const [error, setError] = useState("");
  const [done, setDone] = useState(false);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setProblems([]);
    setConfirmError("");
    setError("");
    if (!password) return setProblems([{ code: "required", message: "Enter a new password." }]);
    if (password !== confirm) return setConfirmError("The two passwords do not match.");
    setBusy(true);
    try {
      await api.confirmPasswordReset(key, password);
      setDone(true);
      onReset();
    } catch (e) {
      if (e instanceof ApiError && e.code === "password_invalid") setProblems(e.errors);
      else setError(resetErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  if (!key) {
    return (
      <div style={{ maxWidth: 480 }}>
        <h1 className="h3 mb-3">Choose a new password</h1>
        <div className="alert alert-warning" role="alert">
          This page needs the link from the email we sent you. <Link to="/forgot-password">Ask for a new link</Link>.
        </div>
      </div>
    );
  }
  return (
    <div style={{ maxWidth: 480 }}>
      <h1 className="h3 mb-3">Choose a new password</h1>
      {done ? (
        <div className="alert alert-success" role="status" data-testid="password-reset-done">
          Your password has been set and you have been signed out everywhere. <Link to="/">Sign in</Link> with the
          new password.
        </div>
      ) : (
        <form onSubmit={onSubmit} noValidate data-testid="reset-form">
          <NewPasswordFields
            idPrefix="reset-"
            problemsTestId="reset-problems"
            value={password}
            onChange={setPassword}
            confirm={confirm}
            onConfirmChange={setConfirm}
            problems={problems}
            confirmError={confirmError}
            autoFocus
          />
          {error && (
            <ErrorAlert testId="reset-error">
              {error} {error.startsWith("This link") && <Link to="/forgot-password">Ask for a new link</Link>}
            </ErrorAlert>
          )}
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Saving…" : "Set the new password"}
          </button>
        </form>
      )}
    </div>
  );
}
