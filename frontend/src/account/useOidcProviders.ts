import { useEffect, useState } from "react";

import { ApiClient, OidcProvider } from "../api/client";

/**
 * The OpenID Connect providers to offer, loaded once per `api`; none (no
 * buttons rather than a broken page) when the list cannot be read.
 */
export function useOidcProviders(api: ApiClient): OidcProvider[] {
  const [providers, setProviders] = useState<OidcProvider[]>([]);
  useEffect(() => {
    let cancelled = false;
    api
      .oidcProviders()
      .then((p) => !cancelled && setProviders(p))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [api]);
  return providers;
}
