import { FormEvent, useCallback, useEffect, useState } from "react";

import { ApiClient, ApiError, MfaStatus, TotpSetup } from "../api/client";
import { absoluteTime } from "./describe";
import { accountErrorMessage } from "./errors";
import { CancelledError } from "./reauth";

type Props = {
  api: ApiClient;
  sensitive: <T>(action: () => Promise<T>) => Promise<T>;
};

/** The account page's second factor: set up an authenticator app, see the recovery codes once, remove it. */
export default function SecondFactor({ api, sensitive }: Props) {
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
      setStatus(await api.request<MfaStatus>("GET", "/api/mfa/"));
    } catch (e) {
      setError(accountErrorMessage(e));
    }
  }, [api]);

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
      if (!(e instanceof CancelledError)) setError(accountErrorMessage(e));
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
        setCodes(r.recoveryCodes);
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
      setNotice("The authenticator app is removed: your password alone signs you in again.");
    });

  const enabled = status?.totp.enabled === true;
  return (
    <section className="mb-5" aria-labelledby="mfa-title" data-testid="second-factor">
      <h2 className="h5" id="mfa-title">
        Two-step sign-in
      </h2>
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
          <p>
            On: an authenticator app, set up {status.totp.createdAt ? absoluteTime(status.totp.createdAt) : ""}.{" "}
            {status.recoveryCodesLeft} recovery code{status.recoveryCodesLeft === 1 ? "" : "s"} left.
          </p>
          <div className="d-flex flex-wrap gap-2">
            <button type="button" className="btn btn-outline-secondary" onClick={regenerate} disabled={busy}>
              New recovery codes
            </button>
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
      {notice && (
        <p className="mt-2" role="status">
          {notice}
        </p>
      )}
      {error && (
        <div className="alert alert-danger mt-2" role="alert" data-testid="mfa-error">
          {error}
        </div>
      )}
    </section>
  );
}
