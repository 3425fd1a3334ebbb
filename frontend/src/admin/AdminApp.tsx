import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, Navigate, NavLink, Route, Routes } from "react-router";

import { ApiClient, ApiError } from "../api/client";
import MfaSetupRequired from "../account/MfaSetupRequired";
import { CancelledError, useReauth } from "../account/reauth";
import SignInForm from "../account/SignInForm";
import { adminApi } from "./api";
import { AdminContext, AdminContextValue } from "./common";
import { adminErrorMessage } from "../ui/messages";
import EventsPage from "./EventsPage";
import SessionsPage from "./SessionsPage";
import UserPage from "./UserPage";
import UsersPage from "./UsersPage";
import { ErrorAlert } from "../ui/Alert";

type View =
  | { kind: "loading" }
  | { kind: "anonymous"; notice?: string }
  | { kind: "notStaff"; username: string }
  | { kind: "setupMfa"; username: string }
  | { kind: "staff"; username: string; isSuperuser: boolean }
  | { kind: "broken"; message: string };

export default function AdminApp({ api }: { api: ApiClient }) {
  const [view, setView] = useState<View>({ kind: "loading" });
  const admin = useMemo(() => adminApi(api), [api]);
  const { sensitive, dialog } = useReauth(api);

  const refresh = useCallback(async () => {
    try {
      const s = await api.session();
      if (!s.isAuthenticated || !s.username) setView({ kind: "anonymous" });
      else if (s.mfaSetupRequired) setView({ kind: "setupMfa", username: s.username });
      else if (s.isStaff) setView({ kind: "staff", username: s.username, isSuperuser: s.isSuperuser === true });
      else setView({ kind: "notStaff", username: s.username });
    } catch (e) {
      setView({ kind: "broken", message: adminErrorMessage(e) });
    }
  }, [api]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const handleAuthFailure = useCallback(
    (e: unknown) => {
      if (e instanceof CancelledError) return true;
      if (!(e instanceof ApiError)) return false;
      if (e.code === "not_authenticated") {
        setView({ kind: "anonymous", notice: "Your session has ended. Please sign in again." });
        return true;
      }
      if (e.code === "mfa_setup_required" || (e.code === "permission_denied" && e.detail.includes("staff users only"))) {
        void refresh();
        return true;
      }
      return false;
    },
    [refresh],
  );

  async function signOut() {
    try {
      await api.logout();
    } catch {
      // Already signed out: nothing to undo.
    }
    setView({ kind: "anonymous", notice: "You signed out." });
  }

  const context: AdminContextValue | null =
    view.kind === "staff"
      ? { api, admin, me: { username: view.username, isSuperuser: view.isSuperuser }, sensitive, handleAuthFailure }
      : null;

  return (
    <>
      <a className="visually-hidden-focusable" href="#main">
        Skip to content
      </a>
      <nav className="navbar navbar-expand-md bg-dark border-bottom" data-bs-theme="dark" aria-label="Administration">
        <div className="container-xl flex-wrap">
          <Link className="navbar-brand" to="/">
            Latchkey admin
          </Link>
          {context && (
            <ul className="navbar-nav flex-row flex-wrap gap-3 me-auto">
              <li className="nav-item">
                <NavLink className="nav-link" to="/users">
                  Users
                </NavLink>
              </li>
              <li className="nav-item">
                <NavLink className="nav-link" to="/sessions">
                  Sessions
                </NavLink>
              </li>
              <li className="nav-item">
                <NavLink className="nav-link" to="/events">
                  Events
                </NavLink>
              </li>
            </ul>
          )}
          {(view.kind === "staff" || view.kind === "notStaff" || view.kind === "setupMfa") && (
            <div className="d-flex align-items-center gap-2 text-light">
              <span data-testid="admin-user">{view.username}</span>
              <button type="button" className="btn btn-outline-light btn-sm" onClick={signOut}>
                Sign out
              </button>
            </div>
          )}
        </div>
      </nav>
      <main id="main" className="container-xl py-4">
        {view.kind === "loading" && <p role="status">Loading…</p>}
        {view.kind === "broken" && (
          <ErrorAlert>
            {view.message}
          </ErrorAlert>
        )}
        {view.kind === "anonymous" && <AdminLogin api={api} notice={view.notice} onSignedIn={refresh} />}
        {view.kind === "setupMfa" && (
          <MfaSetupRequired api={api} username={view.username} sensitive={sensitive} onDone={refresh} />
        )}
        {view.kind === "notStaff" && (
          <div data-testid="not-allowed" style={{ maxWidth: 560 }}>
            <h1 className="h3 mb-3">Not allowed</h1>
            <p>
              You are signed in as <strong>{view.username}</strong>, which is not a staff account. The administration
              is for staff users only.
            </p>
            <p>Sign out, then sign in with a staff account.</p>
          </div>
        )}
        {context && (
          <AdminContext.Provider value={context}>
            <Routes>
              <Route path="/" element={<Navigate to="/users" replace />} />
              <Route path="/users" element={<UsersPage />} />
              <Route path="/users/:id" element={<UserPage />} />
              <Route path="/sessions" element={<SessionsPage />} />
              <Route path="/events" element={<EventsPage />} />
              <Route
                path="*"
                element={
                  <div>
                    <h1 className="h3">Page not found</h1>
                    <p>
                      There is nothing at this address. <Link to="/users">See the users</Link>.
                    </p>
                  </div>
                }
              />
            </Routes>
          </AdminContext.Provider>
        )}
        {dialog}
      </main>
    </>
  );
}

function AdminLogin({ api, notice, onSignedIn }: { api: ApiClient; notice?: string; onSignedIn: () => void }) {
  return (
    <div style={{ maxWidth: 420 }}>
      <h1 className="h3 mb-3">Sign in to the administration</h1>
      {notice && (
        <div className="alert alert-info" role="status">
          {notice}
        </div>
      )}
      <SignInForm
        api={api}
        idPrefix="admin-"
        testId="admin-login"
        submit="Sign in"
        submitting="Signing in…"
        onSignedIn={onSignedIn}
      />
    </div>
  );
}
