import { FormEvent, useCallback, useEffect, useState } from "react";

import { ApiClient, ApiError, MfaStatus, PasskeyInfo, TotpSetup } from "../api/client";
import { absoluteTime } from "./describe";
import { accountErrorMessage } from "../ui/messages";
import { PasskeyPromptError, createPasskey, passkeysSupported, suggestedPasskeyName } from "./passkeys";
import { CancelledError } from "./reauth";
import { ErrorAlert } from "../ui/Alert";

type Props = {
  api: ApiClient;
  sensitive: <T>(action: () => Promise<T>) => Promise<T>;
  /** Told what the user has after every change (the page that requires a factor moves on). */
  onStatus?: (status: MfaStatus) => void;
};

/**
 * The account page's two-step sign-in: an authenticator app (set up with a
 * QR code, removed), passkeys (added, renamed, removed) and the recovery
 * codes that come with the first of them, shown once.
 */
export default function SecondFactor({ api, sensitive, onStatus }: Props) {
  const [status, setStatus] = useState<MfaStatus | null>(null);
  const [setup, setSetup] = useState<TotpSetup | null>(null);
  const [code, setCode] = useState("");
  const [codes, setCodes] = useState<string[] | null>(null);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      const s = await api.request<MfaStatus>("GET", "/api/mfa/");
      setStatus(s);
      onStatus?.(s);
    } catch (e) {
      setError(accountErrorMessage(e));
    }
  }, [api, onStatus]);

  useEffect(() => {
    void load();
  }, [load]);

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError("");
    setNotice("");
    try {
      await action();
      await load();
    } catch (e) {
      if (e instanceof PasskeyPromptError) setError(e.message);
      else if (!(e instanceof CancelledError)) setError(accountErrorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  const start = () =>
    run(async () => {
      setSetup(await sensitive(() => api.request<TotpSetup>("GET", "/api/mfa/totp/")));
      setCode("");
    });

  const activate = (event: FormEvent) => {
    event.preventDefault();
    return run(async () => {
      try {
        const r = await api.request<{ recoveryCodes: string[] }>("POST", "/api/mfa/totp/", { code: code.trim() });
        // A passkey set up earlier brought the recovery codes already.
        if (r.recoveryCodes.length > 0) setCodes(r.recoveryCodes);
        else setNotice("The authenticator app is on. Your recovery codes stay as they were.");
        setSetup(null);
      } catch (e) {
        if (e instanceof ApiError && e.code === "invalid_code") {
          throw new ApiError(400, "invalid_code", "That code is not valid: enter the 6 digits your app shows now.");
        }
        if (e instanceof ApiError && e.code === "mfa_setup_expired") setSetup(null);
        throw e;
      }
    });
  };

  const regenerate = () =>
    run(async () => {
      const r = await sensitive(() => api.request<{ recoveryCodes: string[] }>("POST", "/api/mfa/recovery-codes/"));
      setCodes(r.recoveryCodes);
    });

  const remove = () =>
    run(async () => {
      await sensitive(() => api.request("DELETE", "/api/mfa/totp/"));
      setConfirmRemove(false);
      setCodes(null);
      setNotice(
        (status?.webauthn.length ?? 0) > 0
          ? "The authenticator app is removed; your passkeys still sign you in."
          : "The authenticator app is removed: your password alone signs you in again.",
      );
    });

  const enabled = status?.totp.enabled === true;
  const anyFactor = enabled || (status?.webauthn.length ?? 0) > 0;
  return (
    <section className="mb-5" aria-labelledby="mfa-title" data-testid="second-factor">
      <h2 className="h5" id="mfa-title">
        Two-step sign-in and passkeys
      </h2>
      <h3 className="h6">Authenticator app</h3>
      {status && !enabled && !setup && (
        <>
          <p>
            Add a second step to your sign-in: after your password, a 6-digit code from an authenticator app on your
            phone.
          </p>
          <button type="button" className="btn btn-outline-primary" onClick={start} disabled={busy}>
            Set up an authenticator app
          </button>
        </>
      )}
      {setup && (
        <form onSubmit={activate} noValidate data-testid="totp-setup">
          <p>Scan this QR code with your authenticator app, or type the key into it. Then enter the code it shows.</p>
          <img
            src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qrSvg)}`}
            alt="QR code to scan with your authenticator app"
            width={200}
            height={200}
            className="d-block mb-2 border"
          />
          <p>
            Key: <code data-testid="totp-secret">{setup.secret.replace(/(.{4})/g, "$1 ").trim()}</code>
          </p>
          <div className="mb-3" style={{ maxWidth: 240 }}>
            <label htmlFor="totp-code" className="form-label">
              Code from the app
            </label>
            <input
              id="totp-code"
              className="form-control"
              inputMode="numeric"
              autoComplete="one-time-code"
              value={code}
              onChange={(e) => setCode(e.target.value)}
            />
          </div>
          <div className="d-flex gap-2">
            <button type="submit" className="btn btn-primary" disabled={busy || code.trim() === ""}>
              Turn on
            </button>
            <button type="button" className="btn btn-outline-secondary" onClick={() => setSetup(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {codes && (
        <div className="alert alert-warning mt-3" role="status" data-testid="recovery-codes">
          <p className="mb-2">
            <strong>Your recovery codes.</strong> Each signs you in once if you lose your phone. Keep them somewhere
            safe: they are shown only now.
          </p>
          <ul className="list-unstyled font-monospace mb-2">
            {codes.map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
          <button type="button" className="btn btn-sm btn-outline-dark" onClick={() => setCodes(null)}>
            I have saved them
          </button>
        </div>
      )}
      {status && enabled && (
        <div data-testid="totp-enabled">
          <p>On: an authenticator app, set up {status.totp.createdAt ? absoluteTime(status.totp.createdAt) : ""}.</p>
          <div className="d-flex flex-wrap gap-2">
            {confirmRemove ? (
              <>
                <button type="button" className="btn btn-danger" onClick={remove} disabled={busy}>
                  Yes, remove it
                </button>
                <button type="button" className="btn btn-outline-secondary" onClick={() => setConfirmRemove(false)}>
                  Keep it
                </button>
              </>
            ) : (
              <button type="button" className="btn btn-outline-danger" onClick={() => setConfirmRemove(true)}>
                Remove the authenticator app
              </button>
            )}
          </div>
        </div>
      )}
      {status && (
        <Passkeys
          api={api}
          sensitive={sensitive}
          passkeys={status.webauthn}
          busy={busy}
          run={run}
          onCodes={setCodes}
          onNotice={setNotice}
        />
      )}
      {status && anyFactor && (
        <div className="mt-4" data-testid="recovery-status">
          <h3 className="h6">Recovery codes</h3>
          <p>
            {status.recoveryCodesLeft} recovery code{status.recoveryCodesLeft === 1 ? "" : "s"} left. Each signs you
            in once if you lose your phone or your passkeys.
          </p>
          <button type="button" className="btn btn-outline-secondary" onClick={regenerate} disabled={busy}>
            New recovery codes
          </button>
        </div>
      )}
      {notice && (
        <p className="mt-2" role="status" data-testid="mfa-notice">
          {notice}
        </p>
      )}
      {error && (
        <ErrorAlert testId="mfa-error" className="mt-2">
          {error}
        </ErrorAlert>
      )}
    </section>
  );
}

type PasskeysProps = {
  api: ApiClient;
  sensitive: <T>(action: () => Promise<T>) => Promise<T>;
  passkeys: PasskeyInfo[];
  busy: boolean;
  run: (action: () => Promise<void>) => Promise<void>;
  onCodes: (codes: string[]) => void;
  onNotice: (notice: string) => void;
};

/** The user's passkeys: add one (named), rename, remove. */
function Passkeys({ api, sensitive, passkeys, busy, run, onCodes, onNotice }: PasskeysProps) {
  const supported = passkeysSupported();
  const [adding, setAdding] = useState(false);
  const [name, setName] = useState("");
  const [renaming, setRenaming] = useState<number | null>(null);
  const [newName, setNewName] = useState("");
  const [removing, setRemoving] = useState<number | null>(null);

  const startAdding = () => {
    setName(suggestedPasskeyName(navigator.userAgent));
    setAdding(true);
  };

  const add = (event: FormEvent) => {
    event.preventDefault();
    return run(async () => {
      const options = await sensitive(() =>
        api.request<PublicKeyCredentialCreationOptionsJSON>("POST", "/api/mfa/webauthn/register/options/"),
      );
      const credential = await createPasskey(options);
      const r = await api.request<{ recoveryCodes?: string[] }>("POST", "/api/mfa/webauthn/register/", {
        name: name.trim(),
        credential,
      });
      setAdding(false);
      if (r.recoveryCodes) onCodes(r.recoveryCodes);
      onNotice("The passkey is added: use it to sign in, with no password.");
    });
  };

  const rename = (event: FormEvent, id: number) => {
    event.preventDefault();
    return run(async () => {
      await api.request("PATCH", `/api/mfa/webauthn/credentials/${id}/`, { name: newName.trim() });
      setRenaming(null);
    });
  };

  const remove = (p: PasskeyInfo) =>
    run(async () => {
      await sensitive(() => api.request("DELETE", `/api/mfa/webauthn/credentials/${p.id}/`));
      setRemoving(null);
      onNotice(`The passkey “${p.name}” is removed. Remove it from the device too, in its passkey settings.`);
    });

  return (
    <div className="mt-4" data-testid="passkeys">
      <h3 className="h6">Passkeys</h3>
      <p>
        Sign in with your fingerprint, face or device PIN instead of a password; after a password, a passkey also
        proves the second step.
      </p>
      {passkeys.length > 0 && (
        <ul className="list-group mb-3">
          {passkeys.map((p) => (
            <li className="list-group-item" key={p.id} data-testid="passkey">
              {renaming === p.id ? (
                <form className="d-flex flex-wrap gap-2 align-items-end" onSubmit={(e) => rename(e, p.id)}>
                  <div>
                    <label htmlFor={`passkey-name-${p.id}`} className="form-label small mb-1">
                      New name
                    </label>
                    <input
                      id={`passkey-name-${p.id}`}
                      className="form-control form-control-sm"
                      maxLength={64}
                      value={newName}
                      onChange={(e) => setNewName(e.target.value)}
                    />
                  </div>
                  <button type="submit" className="btn btn-sm btn-primary" disabled={busy}>
                    Save
                  </button>
                  <button type="button" className="btn btn-sm btn-outline-secondary" onClick={() => setRenaming(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <div className="d-flex flex-wrap justify-content-between align-items-center gap-2">
                  <div>
                    <strong data-testid="passkey-name">{p.name}</strong>
                    <div className="small text-body-secondary">
                      Added {absoluteTime(p.createdAt)}
                      {p.lastUsedAt ? `, last used ${absoluteTime(p.lastUsedAt)}` : ", not used yet"}
                    </div>
                  </div>
                  <div className="d-flex gap-2">
                    {removing === p.id ? (
                      <>
                        <button type="button" className="btn btn-sm btn-danger" onClick={() => remove(p)} disabled={busy}>
                          Yes, remove it
                        </button>
                        <button
                          type="button"
                          className="btn btn-sm btn-outline-secondary"
                          onClick={() => setRemoving(null)}
                        >
                          Keep it
                        </button>
                      </>
                    ) : (
                      <>
                        <button
                          type="button"
                          className="btn btn-sm btn-outline-secondary"
                          aria-label={`Rename ${p.name}`}
                          onClick={() => {
                            setNewName(p.name);
                            setRenaming(p.id);
                          }}
                        >
                          Rename
                        </button>
                        <button
                          type="button"
                          className="btn btn-sm btn-outline-danger"
                          aria-label={`Remove ${p.name}`}
                          onClick={() => setRemoving(p.id)}
                        >
                          Remove
                        </button>
                      </>
                    )}
                  </div>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      {!supported && (
        <p className="text-body-secondary" data-testid="passkeys-unsupported">
          This browser cannot create passkeys here (it needs a recent browser and an https:// or localhost address).
        </p>
      )}
      {supported && !adding && (
        <button type="button" className="btn btn-outline-primary" onClick={startAdding} disabled={busy}>
          Add a passkey
        </button>
      )}
      {supported && adding && (
        <form onSubmit={add} noValidate data-testid="passkey-add" className="d-flex flex-wrap gap-2 align-items-end">
          <div>
            <label htmlFor="passkey-name" className="form-label">
              Name, to tell it apart later
            </label>
            <input
              id="passkey-name"
              className="form-control"
              maxLength={64}
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            Create the passkey
          </button>
          <button type="button" className="btn btn-outline-secondary" onClick={() => setAdding(false)}>
            Cancel
          </button>
        </form>
      )}
    </div>
  );
}
