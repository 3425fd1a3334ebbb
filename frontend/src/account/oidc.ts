// Signing in with an OpenID Connect provider: the server sends the browser
// back with `?loginError=<code>` (sign-in) or `?linked=<id>` /
// `?linkError=<code>` (linking from the Account page); these say why in words.

/** What a person should read for a failed sign-in or link at a provider. */
export function oidcErrorMessage(code: string, provider = "the provider"): string {
  switch (code) {
    case "access_denied":
      return `Sign-in at ${provider} was cancelled. You can try again, or sign in another way.`;
    case "provider_error":
      return `${provider} could not sign you in. Please try again.`;
    case "provider_misconfigured":
      return `Signing in with ${provider} is not set up correctly on this site, so it cannot work right now. The site's administrators can see why in its log. Please sign in another way.`;
    case "provider_unavailable":
      return `${provider} cannot be reached right now. Please try again in a moment, or sign in another way.`;
    case "state_invalid":
      return "That sign-in link expired or was already used (each works once, for 10 minutes, in the browser that started it). Please start again.";
    case "issuer_mismatch":
    case "token_invalid":
      return `The answer from ${provider} could not be verified, so nobody was signed in. Please try again.`;
    case "account_inactive":
      return "This account is disabled. Contact the site's administrators.";
    case "link_required":
      return "An account here already uses that email address. Sign in with its password, then link the provider from your Account page.";
    case "signup_closed":
      return "No account here is linked to that sign-in, and new accounts cannot be created with it.";
    case "email_required":
      return `${provider} did not share an email address, which this site needs for new accounts.`;
    case "email_unverified":
      return "Please confirm your email address first: we have sent you a link. Check your inbox (and spam folder).";
    case "identity_taken":
      return `That ${provider} account is already linked to another user.`;
    case "link_invalid":
      return "Linking was started by someone who is no longer signed in here. Sign in and try again.";
    case "throttled":
      return "Too many sign-in attempts from your network. Please wait a moment and try again.";
    default:
      return "Signing in with the provider failed. Please try again.";
  }
}

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
