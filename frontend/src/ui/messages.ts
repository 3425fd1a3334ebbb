// Every error code the server sends, in words: the one map the SPA and the
// admin read. A screen that needs other words for a code (or for a status,
// as the login's "Wrong username or password." for any 400) says so in its
// own table; everything else is shared, so a code is explained once. The
// server's tests hold this file to its codes (every key here is a code some
// operation documents; every OpenID Connect failure has words).

import { ApiError } from "../api/client";
import { PasskeyPromptError } from "../account/passkeys";

const NETWORK = "Cannot reach the server. Check your connection and try again.";
const BUSY = "The server is busy. Please try again in a moment.";

type Words = string | ((e: ApiError) => string);
/** A screen's words: by code, or by status ("400") when no code has words. */
type Table = Record<string, Words>;

/** The words for a code, whatever the screen. */
export const CODE_WORDS: Table = {
  session_not_found: "That session has already ended.",
  user_not_found: "That user does not exist.",
  username_taken: "That username is taken. Choose another one.",
  email_taken: "An account already uses this email address. Sign in, or reset its password.",
  invalid_email: "Enter a valid email address.",
  invalid_key: "This link is invalid, has expired or was already used.",
  webauthn_not_started: "The passkey request expired. Please try again.",
  webauthn_unavailable: "Passkeys are not available on this site.",
};

/** The words for `e` on a screen with `table`; `fallback` when none apply. */
export function errorMessage(e: unknown, table: Table = {}, fallback: (e: ApiError) => string = (e) => e.detail): string {
  if (!(e instanceof ApiError)) return "Unexpected error.";
  if (e.isNetworkError) return NETWORK;
  const words = table[e.code] ?? CODE_WORDS[e.code] ?? table[String(e.status)];
  if (words !== undefined) return typeof words === "string" ? words : words(e);
  if (e.status === 503) return BUSY;
  return fallback(e);
}

const LOGIN: Table = {
  webauthn_failed: "That passkey could not be verified. Try again, or sign in another way.",
  invalid_code: "That code is not valid. Check the time on your phone, or use a recovery code.",
  mfa_not_pending: "The sign-in expired. Enter your password again.",
  email_unverified:
    "Please confirm your email address first: we have sent you a new link. Check your inbox (and spam folder).",
  "400": "Wrong username or password.",
  "429": "Too many attempts. Please wait a moment and try again.",
  "403": (e) => `The server refused the request: ${e.detail}`,
};

/** What a person should read for a failed login. */
export function loginErrorMessage(e: unknown): string {
  if (e instanceof PasskeyPromptError) return e.message;
  return errorMessage(e, LOGIN, (e) => `Unexpected error (${e.status}): ${e.detail}`);
}

/** What a person should read for a failed account action. */
export function accountErrorMessage(e: unknown): string {
  return errorMessage(e, { throttled: "Too many wrong passwords. Please wait a moment and try again." });
}

/** What a person should read for a failed admin action: the account's words. */
export const adminErrorMessage = accountErrorMessage;

/** What a person should read for a refused sign-up or confirmation. */
export function signupErrorMessage(e: unknown): string {
  return errorMessage(e, {
    throttled: "Too many attempts. Please wait a while and try again.",
    not_found: "Sign-up is closed on this site.",
  });
}

/** What a person should read for a failed reset request or confirmation. */
export function resetErrorMessage(e: unknown): string {
  return errorMessage(e, { throttled: "Too many requests. Please wait a while and try again." });
}

// Signing in with an OpenID Connect provider: the server sends the browser
// back with `?loginError=<code>` (sign-in) or `?linkError=<code>` (linking
// from the Account page); these say why in words.

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
    case "provider_email_unverified":
      return `${provider} does not vouch for your email address, and new accounts here need a verified one. Verify the address at ${provider}, or sign up here with it.`;
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

