import { FormEvent, useCallback, useEffect, useState } from "react";
import { Link, useParams } from "react-router";

import { AdminEvent, AdminFactors, AdminIdentity, AdminSession, AdminUser, UserChanges } from "./api";
import { ConfirmDialog, describeUserAgent, useAdmin, When } from "./common";
import { adminErrorMessage } from "../ui/messages";
import { StatusBadges } from "./UsersPage";
import { ErrorAlert } from "../ui/Alert";

type Flag = "isActive" | "isStaff" | "isSuperuser";

const FLAGS: [Flag, string, string][] = [
  ["isActive", "Active", "An inactive user cannot sign in; deactivating ends all of their sessions at once."],
  ["isStaff", "Staff", "Staff users may use this administration."],
  ["isSuperuser", "Superuser", "Superusers may also change staff and superuser status, and edit other superusers."],
];

export default function UserPage() {
  const { id: raw } = useParams();
  const id = Number(raw);
  const { admin, me, sensitive, handleAuthFailure } = useAdmin();
  const [user, setUser] = useState<AdminUser | null>(null);
  const [sessions, setSessions] = useState<AdminSession[]>([]);
  const [events, setEvents] = useState<AdminEvent[]>([]);
  const [factors, setFactors] = useState<AdminFactors | null>(null);
  const [identities, setIdentities] = useState<AdminIdentity[] | null>(null);
  const [loadError, setLoadError] = useState("");
  const [notice, setNotice] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState<{ title: string; body: string; label: string; run: () => Promise<string> } | null>(
    null,
  );

  const load = useCallback(async () => {
    try {
      const u = await admin.user(id);
      setUser(u);
      const [s, e, f, i] = await Promise.all([
        admin.userSessions(id),
        admin.events({ user: u.username, pageSize: 10 }),
        admin.factors(id),
        admin.identities(id),
      ]);
      setSessions(s);
      setEvents(e.results);
      setFactors(f);
      setIdentities(i);
      setLoadError("");
    } catch (e) {
      if (!handleAuthFailure(e)) setLoadError(adminErrorMessage(e));
    }
  }, [admin, id, handleAuthFailure]);

  useEffect(() => {
    void load();
  }, [load]);

  /** Runs a change, shows its outcome, reloads. */
  async function act(action: () => Promise<string>) {
    setBusy(true);
    setNotice("");
    setError("");
    try {
      setNotice(await action());
    } catch (e) {
      if (!handleAuthFailure(e)) setError(adminErrorMessage(e));
    } finally {
      setBusy(false);
      setConfirm(null);
      await load();
    }
  }

  async function change(changes: UserChanges, done: string) {
    await act(async () => {
      setUser(await sensitive(() => admin.updateUser(id, changes)));
      return done;
    });
  }

  function toggle(flag: Flag, label: string) {
    if (!user) return;
    const value = !user[flag];
    const done = `${label}: ${value ? "on" : "off"}.`;
    if (flag === "isActive" && !value) {
      setConfirm({
        title: `Deactivate ${user.username}?`,
        body: "They will be signed out everywhere at once and cannot sign in until reactivated.",
        label: "Deactivate",
        run: async () => {
          setUser(await sensitive(() => admin.updateUser(id, { isActive: false })));
          return `${user.username} is deactivated; their sessions have ended.`;
        },
      });
      return;
    }
    void change({ [flag]: value }, done);
  }

  if (loadError) {
    return (
      <div>
        <p>
          <Link to="/users">← Users</Link>
        </p>
        <ErrorAlert>
          {loadError}
        </ErrorAlert>
      </div>
    );
  }
  if (!user) return <p role="status">Loading…</p>;

  const own = user.username === me.username;
  /** Why a flag's switch is off-limits to the signed-in staff user, or "". */
  const lockedBecause = (flag: Flag): string => {
    if (own && flag === "isActive") return "You cannot deactivate your own account.";
    if (own && flag === "isSuperuser" && user.isSuperuser) return "You cannot remove your own superuser status.";
    if (own && flag === "isStaff" && user.isStaff) return "You cannot remove your own staff status.";
    if (flag !== "isActive" && !me.isSuperuser) return "Only superusers can change this.";
    if (user.isSuperuser && !own && !me.isSuperuser) return "Only superusers can change a superuser.";
    return "";
  };

  return (
    <div>
      <p>
        <Link to="/users">← Users</Link>
      </p>
      <div className="d-flex flex-wrap align-items-center gap-2 mb-3">
        <h1 className="h3 mb-0" data-testid="user-title">
          {user.username}
        </h1>
        <StatusBadges user={user} />
      </div>
      <p className="mb-3">
        Joined <When iso={user.dateJoined} />; last sign-in <When iso={user.lastLogin} />.
      </p>
      {notice && (
        <div className="alert alert-success" role="status" data-testid="user-notice">
          {notice}
        </div>
      )}
      {error && (
        <ErrorAlert testId="user-error">
          {error}
        </ErrorAlert>
      )}

      <div className="row g-4">
        <section className="col-lg-5" aria-labelledby="status-title">
          <h2 className="h5" id="status-title">
            Status
          </h2>
          {FLAGS.map(([flag, label, help]) => {
            const locked = lockedBecause(flag);
            return (
              <div className="form-check form-switch mb-2" key={flag}>
                <input
                  className="form-check-input"
                  type="checkbox"
                  role="switch"
                  id={`flag-${flag}`}
                  checked={user[flag]}
                  disabled={busy || locked !== ""}
                  aria-describedby={`flag-${flag}-help`}
                  onChange={() => toggle(flag, label)}
                />
                <label className="form-check-label" htmlFor={`flag-${flag}`}>
                  {label}
                </label>
                <div id={`flag-${flag}-help`} className="form-text">
                  {locked || help}
                </div>
              </div>
            );
          })}
        </section>
        <section className="col-lg-7" aria-labelledby="profile-title">
          <h2 className="h5" id="profile-title">
            Profile
          </h2>
          <ProfileForm key={`${user.id}-${user.email}-${user.firstName}-${user.lastName}`} user={user} busy={busy} onSave={change} />
        </section>
      </div>

      <section className="mt-4" aria-labelledby="password-title">
        <h2 className="h5" id="password-title">
          Set a password
        </h2>
        {own ? (
          <p>Change your own password from your account page on the site (it keeps you signed in).</p>
        ) : (
          <SetPassword
            busy={busy}
            onSet={(pw) =>
              act(async () => {
                const r = await sensitive(() => admin.setPassword(id, pw));
                return r.detail;
              })
            }
          />
        )}
      </section>

      <section className="mt-4" aria-labelledby="factors-title">
        <h2 className="h5" id="factors-title">
          Two-step sign-in and passkeys
        </h2>
        {factors && (factors.totp.enabled || factors.webauthn.length > 0) ? (
          <div data-testid="user-factors">
            <ul>
              {factors.totp.enabled && (
                <li>
                  An authenticator app, set up <When iso={factors.totp.createdAt} />, last used{" "}
                  <When iso={factors.totp.lastUsedAt} />.
                </li>
              )}
              {factors.webauthn.map((k) => (
                <li key={k.id} data-testid="user-passkey">
                  Passkey “{k.name}”, added <When iso={k.createdAt} />, last used <When iso={k.lastUsedAt} />.
                </li>
              ))}
              <li>
                {factors.recoveryCodesLeft} recovery code{factors.recoveryCodesLeft === 1 ? "" : "s"} left.
              </li>
            </ul>
            {!own && (
              <button
                type="button"
                className="btn btn-outline-danger btn-sm"
                disabled={busy}
                onClick={() =>
                  setConfirm({
                    title: `Reset the second factors of ${user.username}?`,
                    body: "For a lost phone or key: the authenticator app, every passkey and the recovery codes are removed and they are signed out everywhere; they sign in with their password alone until they set up new ones.",
                    label: "Reset second factors",
                    run: async () => (await sensitive(() => admin.resetFactors(id))).detail,
                  })
                }
              >
                Reset second factors
              </button>
            )}
          </div>
        ) : factors ? (
          <p data-testid="user-factors">None: the password alone signs them in.</p>
        ) : (
          <p>Loading…</p>
        )}
      </section>

      <section className="mt-4" aria-labelledby="identities-title">
        <h2 className="h5" id="identities-title">
          Sign-in providers
        </h2>
        {identities === null ? (
          <p>Loading…</p>
        ) : identities.length === 0 ? (
          <p data-testid="user-identities">None linked.</p>
        ) : (
          <ul data-testid="user-identities">
            {identities.map((i) => (
              <li key={i.id} data-testid="user-identity">
                {i.providerName}
                {i.email ? ` (${i.email})` : ""}, linked <When iso={i.createdAt} />, last used{" "}
                <When iso={i.lastUsedAt ?? null} />.
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="mt-4" aria-labelledby="sessions-title">
        <div className="d-flex flex-wrap align-items-center gap-2 mb-2">
          <h2 className="h5 mb-0" id="sessions-title">
            Sessions ({sessions.length})
          </h2>
          <button
            type="button"
            className="btn btn-outline-danger btn-sm"
            disabled={busy || sessions.length === 0}
            onClick={() =>
              setConfirm({
                title: `End every session of ${user.username}?`,
                body: "They will be signed out everywhere at once; they can sign in again.",
                label: "End all sessions",
                run: async () => (await sensitive(() => admin.endUserSessions(id))).detail,
              })
            }
          >
            End all sessions
          </button>
        </div>
        <SessionTable
          sessions={sessions}
          busy={busy}
          onEnd={(s) => act(async () => {
            await sensitive(() => admin.endSession(s.id));
            return `Ended the session in ${describeUserAgent(s.userAgent)}.`;
          })}
        />
      </section>

      <section className="mt-4" aria-labelledby="events-title">
        <h2 className="h5" id="events-title">
          Recent events
        </h2>
        {events.length === 0 ? (
          <p>None recorded.</p>
        ) : (
          <ul className="list-unstyled" data-testid="user-events">
            {events.map((e) => (
              <li key={e.id} className="mb-1">
                <When iso={e.at} /> — <strong>{e.kind}</strong>
                {e.actor && e.actor !== e.target && <> by {e.actor}</>}
                {e.detail && <>: {e.detail}</>}
              </li>
            ))}
          </ul>
        )}
        <Link to={`/events?user=${encodeURIComponent(user.username)}`}>All events of {user.username}</Link>
      </section>

      {confirm && (
        <ConfirmDialog
          title={confirm.title}
          confirmLabel={confirm.label}
          busy={busy}
          onConfirm={() => void act(confirm.run)}
          onCancel={() => setConfirm(null)}
        >
          <p className="mb-0">{confirm.body}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function ProfileForm({
  user,
  busy,
  onSave,
}: {
  user: AdminUser;
  busy: boolean;
  onSave: (changes: UserChanges, done: string) => Promise<void>;
}) {
  const [firstName, setFirstName] = useState(user.firstName);
  const [lastName, setLastName] = useState(user.lastName);
  const [email, setEmail] = useState(user.email);
  const [verified, setVerified] = useState(user.emailVerified);

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const changes: UserChanges = {};
    if (firstName !== user.firstName) changes.firstName = firstName;
    if (lastName !== user.lastName) changes.lastName = lastName;
    if (email !== user.email) changes.email = email;
    if (verified !== user.emailVerified || changes.email !== undefined) changes.emailVerified = verified;
    void onSave(changes, "Profile saved.");
  }

  return (
    <form onSubmit={onSubmit} noValidate>
      <div className="row g-2">
        <div className="col-sm-6">
          <label htmlFor="first-name" className="form-label">
            First name
          </label>
          <input id="first-name" className="form-control" maxLength={150} value={firstName} onChange={(e) => setFirstName(e.target.value)} />
        </div>
        <div className="col-sm-6">
          <label htmlFor="last-name" className="form-label">
            Last name
          </label>
          <input id="last-name" className="form-control" maxLength={150} value={lastName} onChange={(e) => setLastName(e.target.value)} />
        </div>
        <div className="col-12">
          <label htmlFor="email" className="form-label">
            Email
          </label>
          <input id="email" type="email" className="form-control" value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="col-12 form-check ms-1">
          <input
            id="email-verified"
            type="checkbox"
            className="form-check-input"
            checked={verified}
            onChange={(e) => setVerified(e.target.checked)}
          />
          <label htmlFor="email-verified" className="form-check-label">
            The address is confirmed
          </label>
        </div>
      </div>
      <button type="submit" className="btn btn-primary mt-3" disabled={busy}>
        Save profile
      </button>
    </form>
  );
}

function SetPassword({ busy, onSet }: { busy: boolean; onSet: (password: string) => Promise<void> }) {
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [mismatch, setMismatch] = useState(false);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (password !== repeat) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    await onSet(password);
    setPassword("");
    setRepeat("");
  }

  return (
    <form onSubmit={onSubmit} noValidate className="row g-2 align-items-end" data-testid="set-password">
      <p className="col-12 mb-1">The password validators apply; every session of the user ends and they are told by mail.</p>
      <div className="col-sm-5">
        <label htmlFor="set-password" className="form-label">
          New password
        </label>
        <input id="set-password" type="password" className="form-control" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </div>
      <div className="col-sm-5">
        <label htmlFor="set-password-repeat" className="form-label">
          The same again
        </label>
        <input
          id="set-password-repeat"
          type="password"
          className={`form-control${mismatch ? " is-invalid" : ""}`}
          autoComplete="new-password"
          value={repeat}
          aria-invalid={mismatch || undefined}
          aria-describedby={mismatch ? "set-password-mismatch" : undefined}
          onChange={(e) => setRepeat(e.target.value)}
        />
        {mismatch && (
          <div id="set-password-mismatch" className="invalid-feedback">
            The two passwords differ.
          </div>
        )}
      </div>
      <div className="col-sm-2">
        <button type="submit" className="btn btn-outline-primary" disabled={busy || password === ""}>
          Set
        </button>
      </div>
    </form>
  );
}

/** Sessions with where, what and when, and an End button each. */
export function SessionTable({
  sessions,
  busy,
  onEnd,
  showUser = false,
}: {
  sessions: AdminSession[];
  busy: boolean;
  onEnd: (s: AdminSession) => void;
  showUser?: boolean;
}) {
  if (sessions.length === 0) return <p>No live sessions.</p>;
  return (
    <div className="table-responsive">
      <table className="table align-middle" data-testid="sessions-table">
        <thead>
          <tr>
            {showUser && <th scope="col">User</th>}
            <th scope="col">Browser</th>
            <th scope="col">Address</th>
            <th scope="col">Last seen</th>
            <th scope="col" className="d-none d-md-table-cell">
              Signed in
            </th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id} data-testid="session-row">
              {showUser && <td>{s.user ? <Link to={`/users/${s.user.id}`}>{s.user.username}</Link> : "(deleted)"}</td>}
              <td title={s.userAgent ?? undefined}>
                {describeUserAgent(s.userAgent)}
                {s.current && <span className="badge text-bg-info ms-1">this browser</span>}
              </td>
              <td>{s.ip ?? "unknown"}</td>
              <td>
                <When iso={s.lastSeenAt} />
              </td>
              <td className="d-none d-md-table-cell">
                <When iso={s.createdAt} />
              </td>
              <td className="text-end">
                <button
                  type="button"
                  className="btn btn-outline-danger btn-sm"
                  disabled={busy}
                  onClick={() => onEnd(s)}
                  aria-label={`End the session in ${describeUserAgent(s.userAgent)}${s.user ? ` of ${s.user.username}` : ""}`}
                >
                  End
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

