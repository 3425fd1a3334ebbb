import { useCallback, useEffect, useState } from "react";

import { ApiClient, ApiError, LinkedIdentity, OidcProvider } from "../api/client";
import { absoluteTime } from "./describe";
import { accountErrorMessage } from "../ui/messages";
import { takeQueryParam } from "./oidc";
import { oidcErrorMessage } from "../ui/messages";
import { CancelledError } from "./reauth";
import { ErrorAlert } from "../ui/Alert";

type Props = {
  api: ApiClient;
  sensitive: <T>(action: () => Promise<T>) => Promise<T>;
};

/**
 * The account page's sign-in providers: the accounts at OpenID Connect
 * providers linked to this one, "Link" for the others (a trip to the
 * provider, after a recent sign-in), "Unlink" (refused for the last way to
 * sign in). Hidden when the site has no provider and nothing is linked.
 */
export default function LinkedAccounts({ api, sensitive }: Props) {
  const [providers, setProviders] = useState<OidcProvider[]>([]);
  const [linked, setLinked] = useState<LinkedIdentity[] | null>(null);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);
  // Back from the provider: what happened, once.
  const [back] = useState(() => ({ linked: takeQueryParam("linked"), linkError: takeQueryParam("linkError") }));

  const load = useCallback(async () => {
    try {
      const [p, l] = await Promise.all([api.oidcProviders(), api.identities()]);
      setProviders(p);
      setLinked(l);
      const name = (id: string | null) => p.find((x) => x.id === id)?.name ?? "the provider";
      if (back.linked) setNotice(`Your ${name(back.linked)} account is linked: you can sign in with it now.`);
      if (back.linkError) setError(oidcErrorMessage(back.linkError, name(null)));
    } catch (e) {
      setError(accountErrorMessage(e));
    }
  }, [api, back]);

  useEffect(() => {
    load();
  }, [load]);

  async function link(provider: OidcProvider) {
    setBusy(true);
    setError("");
    setNotice("");
    try {
      const location = await sensitive(() => api.linkIdentity(provider.id));
      window.location.assign(location);
    } catch (e) {
      if (!(e instanceof CancelledError)) {
        setError(
          e instanceof ApiError && e.code === "provider_unavailable"
            ? oidcErrorMessage("provider_unavailable", provider.name)
            : accountErrorMessage(e),
        );
      }
      setBusy(false);
    }
  }

  async function unlink(identity: LinkedIdentity) {
    setBusy(true);
    setError("");
    setNotice("");
    try {
      await sensitive(() => api.unlinkIdentity(identity.id));
      setNotice(`${identity.providerName} is unlinked.`);
      setLinked(await api.identities());
    } catch (e) {
      if (!(e instanceof CancelledError)) {
        setError(
          e instanceof ApiError && e.code === "last_sign_in_method"
            ? `${identity.providerName} is the only way to sign in to this account. Set a password (use "Forgot your password?" on the sign-in page) or add a passkey first.`
            : accountErrorMessage(e),
        );
      }
    }
    setBusy(false);
  }

  if (linked === null && !error) return null;
  if (providers.length === 0 && (linked ?? []).length === 0 && !error) return null;
  const unlinkedProviders = providers.filter((p) => !(linked ?? []).some((i) => i.provider === p.id));
  return (
    <section aria-labelledby="providers-heading" className="mb-5" data-testid="linked-accounts">
      <h2 id="providers-heading" className="h5">
        Sign-in providers
      </h2>
      <p className="text-secondary">Accounts elsewhere that can sign you in here.</p>
      {notice && (
        <div className="alert alert-success" role="status" data-testid="linked-notice">
          {notice}
        </div>
      )}
      {error && (
        <ErrorAlert testId="linked-error">
          {error}
        </ErrorAlert>
      )}
      {(linked ?? []).length > 0 && (
        <ul className="list-group mb-3">
          {(linked ?? []).map((i) => (
            <li key={i.id} className="list-group-item d-flex align-items-center gap-3" data-testid="linked-identity">
              <div className="flex-grow-1">
                <strong>{i.providerName}</strong>
                {i.email && <span className="ms-2">{i.email}</span>}
                <div className="small text-secondary">
                  Linked {absoluteTime(i.createdAt)}
                  {i.lastUsedAt ? `; last used ${absoluteTime(i.lastUsedAt)}` : ""}
                </div>
              </div>
              <button
                type="button"
                className="btn btn-sm btn-outline-danger"
                disabled={busy}
                onClick={() => unlink(i)}
                aria-label={`Unlink ${i.providerName}`}
              >
                Unlink
              </button>
            </li>
          ))}
        </ul>
      )}
      {unlinkedProviders.length > 0 && (
        <div className="d-flex flex-wrap gap-2">
          {unlinkedProviders.map((p) => (
            <button
              key={p.id}
              type="button"
              className="btn btn-outline-primary"
              disabled={busy}
              onClick={() => link(p)}
              data-testid={`link-${p.id}`}
            >
              Link {p.name}
            </button>
          ))}
        </div>
      )}
    </section>
  );
}
