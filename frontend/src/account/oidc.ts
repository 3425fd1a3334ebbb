// The query parameters an OpenID Connect sign-in or link comes back with
// (`?loginError=`, `?linked=`, `?linkError=`); their words are in ui/messages.ts.

/** `name`'s value in `path`'s query, and `path` without it. */
export function splitQueryParam(path: string, name: string): { value: string | null; rest: string } {
  const url = new URL(path, "http://spa.invalid");
  const value = url.searchParams.get(name);
  url.searchParams.delete(name);
  return { value, rest: url.pathname + url.search + url.hash };
}

/**
 * Takes `name` out of the address bar's query (the message is shown once;
 * a reload must not show it again) and returns its value.
 */
export function takeQueryParam(name: string): string | null {
  if (typeof window === "undefined") return null;
  const here = window.location.pathname + window.location.search + window.location.hash;
  const { value, rest } = splitQueryParam(here, name);
  if (value !== null) window.history.replaceState(window.history.state, "", rest);
  return value;
}
