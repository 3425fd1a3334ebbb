import { FormEvent, useCallback, useEffect, useState } from "react";

import { ApiClient, ApiError, FieldProblem, SessionInfo } from "../api/client";
import { absoluteTime, describeUserAgent, relativeTime } from "./describe";
import NewPasswordFields from "./NewPasswordFields";
import LinkedAccounts from "./LinkedAccounts";
import SecondFactor from "./SecondFactor";
import { accountErrorMessage } from "../ui/messages";
import { CancelledError, useReauth } from "./reauth";
import { ErrorAlert } from "../ui/Alert";

type Props = {
  api: ApiClient;
  username: string;
  onSignedOut: (notice?: string) => void;
};

const ENDED_ELSEWHERE = "Your session has ended (signed out from another device, or expired). Please sign in again.";

export { accountErrorMessage };

export default function AccountPage({ api, username, onSignedOut }: Props) {
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [loadError, setLoadError] = useState("");
  const [notice, setNotice] = useState("");
  const [actionError, setActionError] = useState("");
  const [busy, setBusy] = useState(false);
  const { sensitive, dialog } = useReauth(api);
  const [now, setNow] = useState(() => new Date());

  /** Anonymous now: the session ended elsewhere (or expired). */
  const checkSignedOut = useCallback(
    (e: unknown) => {
      if (e instanceof ApiError && e.code === "not_authenticated") {
        onSignedOut(ENDED_ELSEWHERE);
        return true;
      }
      return false;
    },
    [onSignedOut],
  );

  const load = useCallback(async () => {
    try {
      setSessions(await api.sessions());
      setLoadError("");
      setNow(new Date());
    } catch (e) {
      if (!checkSignedOut(e)) setLoadError(accountErrorMessage(e));
    }
  }, [api, checkSignedOut]);

  useEffect(() => {
    void load();
  }, [load]);


  async function run(action: () => Promise<string | null>) {
    setBusy(true);
    setNotice("");
    setActionError("");
    try {
      const message = await action();
      if (message) setNotice(message);
      await load();
    } catch (e) {
      if (e instanceof CancelledError) return;
      if (!checkSignedOut(e)) setActionError(accountErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  async function endSession(s: SessionInfo) {
    if (s.current) {
      setBusy(true);
      try {
        await api.endSession(s.id);
        onSignedOut("You signed this device out.");
      } catch (e) {
        if (!checkSignedOut(e)) setActionError(accountErrorMessage(e));
        setBusy(false);
      }
      return;
    }
    await run(async () => {
      await sensitive(() => api.endSession(s.id));
      return `Signed out ${describeUserAgent(s.userAgent)}.`;
    });
  }

  async function revokeOthers() {
    await run(async () => {
      const n = await sensitive(() => api.revokeOtherSessions());
      return n === 0 ? "There were no other sessions." : `Signed out everywhere else (${n} session${n === 1 ? "" : "s"}).`;
    });
  }

  const others = sessions?.filter((s) => !s.current).length ?? 0;
  return (
    <div>
      <h1 className="h3 mb-4">Your account</h1>
      <p>
        Signed in as <strong>{username}</strong>.
      </p>

      <section aria-labelledby="sessions-heading" className="mb-5">
        <h2 id="sessions-heading" className="h5">
          Where you are signed in
        </h2>
        <p className="text-secondary">
          Each row is a browser signed in to your account. If you do not recognise one, end it and change your
          password.
        </p>
        <div aria-live="polite">
          {notice && (
            <div className="alert alert-success" role="status" data-testid="account-notice">
              {notice}
            </div>
          )}
          {actionError && (
            <ErrorAlert testId="account-error">
              {actionError}
            </ErrorAlert>
          )}
        </div>
        {loadError && (
          <ErrorAlert>
            {loadError}{" "}
            <button type="button" className="btn btn-sm btn-outline-danger ms-2" onClick={() => void load()}>
              Try again
            </button>
          </ErrorAlert>
        )}
        {sessions === null && !loadError && (
          <p className="text-secondary" role="status">
            Loading your sessions…
          </p>
        )}
        {sessions && (
          <div className="table-responsive">
            <table className="table align-middle" data-testid="sessions-table">
              <caption className="visually-hidden">Your signed-in sessions, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">IP address</th>
                  <th scope="col">Signed in</th>
                  <th scope="col">Last active</th>
                  <th scope="col">
                    <span className="visually-hidden">Action</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {sessions.map((s) => {
                  const device = describeUserAgent(s.userAgent);
                  return (
                    <tr key={s.id} data-testid="session-row" data-current={s.current ? "true" : "false"}>
                      <td>
                        <span title={s.userAgent ?? undefined}>{device}</span>
                        {s.current && <span className="badge text-bg-success ms-2">This device</span>}
                        {!s.remember && <span className="d-block small text-secondary">Until the browser closes</span>}
                      </td>
                      <td>{s.ip ?? "unknown"}</td>
                      <td>
                        <time dateTime={s.createdAt} title={absoluteTime(s.createdAt)}>
                          {relativeTime(s.createdAt, now)}
                        </time>
                      </td>
                      <td>
                        <time dateTime={s.lastSeenAt} title={absoluteTime(s.lastSeenAt)}>
                          {relativeTime(s.lastSeenAt, now)}
                        </time>
                      </td>
                      <td className="text-end">
                        <button
                          type="button"
                          className="btn btn-sm btn-outline-danger"
                          disabled={busy}
                          onClick={() => void endSession(s)}
                          aria-label={s.current ? "Sign out this device" : `End the session on ${device}`}
                        >
                          {s.current ? "Sign out" : "End"}
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        <button
          type="button"
          className="btn btn-outline-danger"
          disabled={busy || sessions === null || others === 0}
          onClick={() => void revokeOthers()}
          data-testid="revoke-others"
        >
          Sign out everywhere else
        </button>
        {sessions !== null && others === 0 && (
          <span className="ms-2 small text-secondary">This is your only session.</span>
        )}
      </section>

      <EmailSection api={api} sensitive={sensitive} />

      <SecondFactor api={api} sensitive={sensitive} />

      <LinkedAccounts api={api} sensitive={sensitive} />

      <ChangePassword api={api} username={username} onChanged={load} onSignedOut={checkSignedOut} />

      {dialog}
    </div>
  );
}

/** The address, whether it is confirmed, and a new link when it is not. */
function EmailSection({ api, sensitive }: { api: ApiClient; sensitive: <T>(action: () => Promise<T>) => Promise<T> }) {
  const [email, setEmail] = useState<string | null>(null);
  const [verified, setVerified] = useState(false);
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [next, setNext] = useState("");
  const [changeError, setChangeError] = useState("");
  const [changeDone, setChangeDone] = useState("");

  async function onChange(event: FormEvent) {
    event.preventDefault();
    setChangeError("");
    setChangeDone("");
    if (!next.includes("@")) return setChangeError("Enter a valid email address.");
    setBusy(true);
    try {
      setChangeDone(await sensitive(() => api.changeEmail(next.trim())));
      setNext("");
    } catch (e) {
      if (e instanceof CancelledError) return;
      setChangeError(
        e instanceof ApiError && e.code === "email_unchanged" ? "That is already your address." : accountErrorMessage(e),
      );
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    let cancelled = false;
    api
      .session()
      .then((s) => {
        if (cancelled) return;
        setEmail(s.email ?? "");
        setVerified(s.emailVerified === true);
      })
      .catch(() => {
        if (!cancelled) setEmail("");
      });
    return () => {
      cancelled = true;
    };
  }, [api]);

  async function resend() {
    if (!email) return;
    setBusy(true);
    try {
      setMessage(await api.resendVerification(email));
    } catch (e) {
      setMessage(accountErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  if (email === null) return null;
  return (
    <section aria-labelledby="email-heading" className="mb-5">
      <h2 id="email-heading" className="h5">
        Email address
      </h2>
      {email ? (
        <p data-testid="account-email">
          {email}{" "}
          {verified ? (
            <span className="badge text-bg-success">Confirmed</span>
          ) : (
            <span className="badge text-bg-warning">Not confirmed</span>
          )}
        </p>
      ) : (
        <p>No address: password reset by mail is not available for this account.</p>
      )}
      {email && !verified && (
        <button type="button" className="btn btn-outline-primary btn-sm" onClick={() => void resend()} disabled={busy}>
          Send the confirmation link again
        </button>
      )}
      {message && (
        <p className="mt-2" role="status">
          {message}
        </p>
      )}
      <form onSubmit={onChange} noValidate className="mt-3" style={{ maxWidth: 480 }} data-testid="email-change-form">
        <label htmlFor="new-email" className="form-label">
          New email address
        </label>
        <div className="d-flex gap-2">
          <input
            id="new-email"
            type="email"
            className={`form-control${changeError ? " is-invalid" : ""}`}
            autoComplete="email"
            value={next}
            onChange={(e) => setNext(e.target.value)}
            aria-invalid={changeError ? true : undefined}
            aria-describedby={changeError ? "new-email-error" : "new-email-help"}
          />
          <button type="submit" className="btn btn-outline-primary text-nowrap" disabled={busy}>
            Change address
          </button>
        </div>
        <div id="new-email-help" className="form-text">
          We send a link to the new address; the change happens when you open it. Your current address is told.
        </div>
        {changeError && (
          <div id="new-email-error" className="invalid-feedback d-block">
            {changeError}
          </div>
        )}
        {changeDone && (
          <div className="alert alert-success mt-2" role="status" data-testid="email-change-sent">
            {changeDone}
          </div>
        )}
      </form>
    </section>
  );
}


/** Explains each validator problem in the words the server sent. */
function problemsOf(e: ApiError): FieldProblem[] {
  return e.errors.length > 0 ? e.errors : [{ code: e.code, message: e.detail }];
}

function ChangePassword({
  api,
  username,
  onChanged,
  onSignedOut,
}: {
  api: ApiClient;
  username: string;
  onChanged: () => Promise<void>;
  onSignedOut: (e: unknown) => boolean;
}) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [currentError, setCurrentError] = useState("");
  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const [confirmError, setConfirmError] = useState("");
  const [error, setError] = useState("");
  const [done, setDone] = useState("");

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setCurrentError("");
    setProblems([]);
    setConfirmError("");
    setError("");
    setDone("");
    if (!current) return setCurrentError("Enter your current password.");
    if (!next) return setProblems([{ code: "required", message: "Enter a new password." }]);
    if (next !== confirm) return setConfirmError("The two new passwords do not match.");
    setBusy(true);
    try {
      const ended = await api.changePassword(current, next);
      setCurrent("");
      setNext("");
      setConfirm("");
      setDone(
        ended === 0
          ? "Password changed."
          : `Password changed. ${ended} other session${ended === 1 ? " was" : "s were"} signed out.`,
      );
      await onChanged();
    } catch (e) {
      if (onSignedOut(e)) return;
      if (e instanceof ApiError && e.code === "invalid_credentials") setCurrentError("Your current password is wrong.");
      else if (e instanceof ApiError && e.code === "password_invalid") setProblems(problemsOf(e));
      else setError(accountErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="password-heading" className="mb-5" style={{ maxWidth: 480 }}>
      <h2 id="password-heading" className="h5">
        Change your password
      </h2>
      <p className="text-secondary">Every other session is signed out; this one stays signed in.</p>
      <form onSubmit={onSubmit} noValidate data-testid="password-form">
        {/* Lets password managers tie the new password to this account. */}
        <input type="text" name="username" autoComplete="username" value={username} readOnly hidden />
        <div className="mb-3">
          <label htmlFor="current-password" className="form-label">
            Current password
          </label>
          <input
            id="current-password"
            type="password"
            className={`form-control${currentError ? " is-invalid" : ""}`}
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            aria-invalid={currentError ? true : undefined}
            aria-describedby={currentError ? "current-password-error" : undefined}
          />
          {currentError && (
            <div id="current-password-error" className="invalid-feedback" data-testid="current-password-error">
              {currentError}
            </div>
          )}
        </div>
        <NewPasswordFields
          idPrefix=""
          problemsTestId="password-problems"
          value={next}
          onChange={setNext}
          confirm={confirm}
          onConfirmChange={setConfirm}
          problems={problems}
          confirmError={confirmError}
        />
        <div aria-live="polite">
          {error && (
            <ErrorAlert>
              {error}
            </ErrorAlert>
          )}
          {done && (
            <div className="alert alert-success" role="status" data-testid="password-changed">
              {done}
            </div>
          )}
        </div>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Changing…" : "Change password"}
        </button>
      </form>
    </section>
  );
}

