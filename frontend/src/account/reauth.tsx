// Actions that need a recent sign-in: `sensitive(action)` runs the action
// and, when the server answers 403 reauthentication_required, asks for the
// password in a dialog, proves it (POST /api/reauthenticate/) and runs the
// action once more. The account page and the admin share it.

import { FormEvent, ReactNode, useRef, useState } from "react";

import { ApiClient, ApiError } from "../api/client";
import { accountErrorMessage } from "../ui/messages";
import { Modal } from "../ui/Modal";
import { useOidcProviders } from "./useOidcProviders";

/** The user closed the password dialog: the action did not run. */
export class CancelledError extends Error {
  constructor() {
    super("cancelled");
    this.name = "CancelledError";
  }
}

/** A pending request for the password, resolved by the dialog. */
type Pending = { resolve: () => void; reject: (e: Error) => void };

/** `sensitive` wraps an action; render `dialog` somewhere on the page. */
export function useReauth(api: ApiClient): { sensitive: <T>(action: () => Promise<T>) => Promise<T>; dialog: ReactNode } {
  const [pending, setPending] = useState<Pending | null>(null);

  async function sensitive<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "reauthentication_required")) throw e;
      await new Promise<void>((resolve, reject) => setPending({ resolve, reject }));
      return await action();
    }
  }

  const dialog = pending && (
    <ReauthDialog
      api={api}
      onDone={() => {
        pending.resolve();
        setPending(null);
      }}
      onCancel={() => {
        pending.reject(new CancelledError());
        setPending(null);
      }}
    />
  );
  return { sensitive, dialog };
}

/** Asks for the password again before a sensitive action. */
function ReauthDialog({ api, onDone, onCancel }: { api: ApiClient; onDone: () => void; onCancel: () => void }) {
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  // Accounts without a password prove it is them at their provider again.
  const providers = useOidcProviders(api);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      await api.reauthenticate(password);
      onDone();
    } catch (e) {
      setError(
        e instanceof ApiError && e.code === "invalid_credentials" ? "That is not your password." : accountErrorMessage(e),
      );
      setBusy(false);
      input.current?.focus();
    }
  }

  return (
    <Modal
      id="reauth"
      title="Confirm it is you"
      bodyId="reauth-why"
      focus={input}
      onCancel={onCancel}
      onSubmit={onSubmit}
      body={
        <>
          <p id="reauth-why">
            This action needs a recent sign-in. Enter your password to continue; you will not be asked again for a
            few minutes.
          </p>
          <label htmlFor="reauth-password" className="form-label">
            Password
          </label>
          <input
            id="reauth-password"
            ref={input}
            type="password"
            className={`form-control${error ? " is-invalid" : ""}`}
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "reauth-error" : undefined}
          />
          {error && (
            <div id="reauth-error" className="invalid-feedback" role="alert" data-testid="reauth-error">
              {error}
            </div>
          )}
          {providers.length > 0 && (
            <p className="mt-3 mb-0 small">
              No password here? Sign in again with{" "}
              {providers.map((p, i) => (
                <span key={p.id}>
                  {i > 0 && " or "}
                  <a href={api.oidcStartUrl(p.id, window.location.pathname)}>{p.name}</a>
                </span>
              ))}
              , then repeat the action.
            </p>
          )}
        </>
      }
      footer={
        <>
          <button type="button" className="btn btn-outline-secondary" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Checking…" : "Confirm"}
          </button>
        </>
      }
    />
  );
}
