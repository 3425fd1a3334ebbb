// The one API client every screen uses. It hides the CSRF differences
// between the deployment topologies:
// - "cookie" mode (embedded): the page can read the `csrftoken` cookie and
//   echoes it in X-CSRFToken, as the tutorial's first approach does;
// - "header" mode (same-origin, rest, cross-origin): the cookie is HttpOnly,
//   so the token comes from the X-CSRFToken response header of /api/csrf/.
// The CSRF secret rotates at login, so the token is refreshed after it, and
// a 403 CSRF failure (e.g. another tab logged in) is retried once with a
// fresh token.

import type { components } from "./schema";

export type CsrfMode = "cookie" | "header";

export interface ApiConfig {
  /** "" for same-origin deployments, else the API origin, e.g. "http://localhost:8000". */
  baseUrl: string;
  csrfMode: CsrfMode;
  /** "same-origin" when the API shares the page's origin, "include" for cross-origin. */
  credentials: RequestCredentials;
  /** Injected in tests. */
  fetch?: typeof fetch;
  /** Returns `document.cookie`; injected in tests. */
  readCookies?: () => string;
  csrfCookieName?: string;
}

/** One reason behind a 400, e.g. a password validator's. */
export type FieldProblem = components["schemas"]["Problem"];

/** An API failure, with the server's `detail` and machine-readable `code`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  /** The individual problems (password validators), when the server lists them. */
  readonly errors: FieldProblem[];
  /** For `mfa_required`: the second factors the user can prove ("totp", "webauthn", "recovery_code"). */
  readonly methods: string[];

  constructor(status: number, code: string, detail: string, errors: FieldProblem[] = [], methods: string[] = []) {
    super(detail || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.errors = errors;
    this.methods = methods;
  }

  /** True when the request never got an HTTP answer. */
  get isNetworkError(): boolean {
    return this.status === 0;
  }
}

/** The API's schemas, generated from the server's OpenAPI document (scripts/openapi-types). */
export type Schemas = components["schemas"];

/** `GET /api/session/`: signed in or not, who, and whether sign-up is open. */
export type SessionState = Partial<Schemas["Session"]> & Pick<Schemas["Session"], "isAuthenticated">;
/** One of the user's sessions, as `GET /api/sessions/` lists it. */
export type SessionInfo = Schemas["SessionInfo"];
/** A registered passkey or security key. */
export type PasskeyInfo = Schemas["Passkey"];
/** What the user has of second factors (`GET /api/mfa/`). */
export type MfaStatus = Schemas["MfaStatus"];
/** A TOTP setup in progress: the secret to type, the URL and its QR code. */
export type TotpSetup = Schemas["TotpSetup"];
/** An OpenID Connect provider the sign-in page offers a button for. */
export type OidcProvider = Schemas["OidcProvider"];
/** An account at a provider linked to the user. */
export type LinkedIdentity = Schemas["LinkedIdentity"];

export interface ApiClient {
  session(): Promise<SessionState>;
  whoami(): Promise<string | null>;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  /** The user's sessions, newest first. */
  sessions(): Promise<SessionInfo[]>;
  /** Ends one session; ending the current one is a logout. */
  endSession(id: string): Promise<void>;
  /** Ends every other session; resolves to how many ended. */
  revokeOtherSessions(): Promise<number>;
  /** Resolves to how many other sessions ended. */
  changePassword(currentPassword: string, newPassword: string): Promise<number>;
  /** Proves the password again, for actions that need a recent sign-in. */
  reauthenticate(password: string): Promise<void>;
  /** Creates an account: `signedIn` when the server signed the new user in, else check your mail. */
  signup(username: string, email: string, password: string): Promise<{ signedIn: boolean; detail: string }>;
  /** Confirms an address with the key from the mailed link. */
  verifyEmail(key: string): Promise<void>;
  /** Asks to use a new address (needs a recent sign-in); resolves to the server's answer. */
  changeEmail(email: string): Promise<string>;
  /** Asks for a new confirmation link; resolves to the server's one answer. */
  resendVerification(email: string): Promise<string>;
  /** Asks for a reset link; resolves to the server's one answer (the same whether or not the address has an account). */
  requestPasswordReset(email: string): Promise<string>;
  /** Sets a new password with the key from the mailed link. */
  confirmPasswordReset(key: string, newPassword: string): Promise<void>;
  /** The second step of a sign-in: a code from the authenticator app, or a recovery code. */
  secondFactor(code: string): Promise<void>;
  /**
   * The second step of a sign-in with a passkey: `sign` turns the server's
   * request options into an assertion (the browser's prompt).
   */
  secondFactorPasskey(sign: (options: PublicKeyCredentialRequestOptionsJSON) => Promise<unknown>): Promise<void>;
  /** Signs in with a passkey, no username or password. */
  passkeyLogin(sign: (options: PublicKeyCredentialRequestOptionsJSON) => Promise<unknown>): Promise<void>;
  /** The OpenID Connect providers to offer ("Sign in with …"); none when not configured. */
  oidcProviders(): Promise<OidcProvider[]>;
  /** Where to send the browser to sign in at `provider` (a navigation, not a fetch); `next` is a path on the SPA. */
  oidcStartUrl(provider: string, next?: string): string;
  /** The user's accounts at providers. */
  identities(): Promise<LinkedIdentity[]>;
  /** Starts linking an account at `provider` (needs a recent sign-in): resolves to where to send the browser. */
  linkIdentity(provider: string): Promise<string>;
  /** Unlinks one (needs a recent sign-in; refused for the last way to sign in). */
  unlinkIdentity(id: number): Promise<void>;
  /** The token the next unsafe request will send (for diagnostics and tests). */
  csrfToken(refresh?: boolean): Promise<string>;
  /**
   * Any other JSON call (the admin's): unsafe methods carry the CSRF token;
   * a failure throws ApiError. Resolves to the parsed body.
   */
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export function readCookie(cookies: string, name: string): string | null {
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let code = "http_error";
  let detail = `HTTP ${res.status}`;
  let errors: FieldProblem[] = [];
  let methods: string[] = [];
  try {
    // Typed as the document says, checked as if it might not be (a proxy's page).
    const body = (await res.json()) as Partial<Record<keyof Schemas["Error"], unknown>>;
    if (Array.isArray(body.methods)) methods = body.methods.filter((m): m is string => typeof m === "string");
    if (typeof body.detail === "string") detail = body.detail;
    if (typeof body.code === "string") code = body.code;
    if (Array.isArray(body.errors)) {
      errors = body.errors.filter(
        (e): e is FieldProblem => typeof e?.code === "string" && typeof e?.message === "string",
      );
    }
  } catch {
    // Not JSON (a proxy error page): keep the generic detail.
  }
  return new ApiError(res.status, code, detail, errors, methods);
}

export function createClient(config: ApiConfig): ApiClient {
  const doFetch = config.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const readCookies = config.readCookies ?? (() => (typeof document === "undefined" ? "" : document.cookie));
  const cookieName = config.csrfCookieName ?? "csrftoken";
  let cachedToken: string | null = null;

  async function send(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await doFetch(`${config.baseUrl}${path}`, { ...init, credentials: config.credentials });
    } catch (e) {
      throw new ApiError(0, "network_error", e instanceof Error ? e.message : String(e));
    }
  }

  async function csrfToken(refresh = false): Promise<string> {
    if (config.csrfMode === "cookie") {
      let token = readCookie(readCookies(), cookieName);
      if (!token || refresh) {
        const res = await send("/api/csrf/");
        if (!res.ok) throw await errorFrom(res);
        token = readCookie(readCookies(), cookieName);
      }
      if (!token) throw new ApiError(0, "csrf_unavailable", "The CSRF cookie could not be read.");
      return token;
    }
    if (cachedToken && !refresh) return cachedToken;
    const res = await send("/api/csrf/");
    if (!res.ok) throw await errorFrom(res);
    const token = res.headers.get("X-CSRFToken");
    if (!token) {
      throw new ApiError(0, "csrf_unavailable", "The server did not expose X-CSRFToken (check CORS expose headers).");
    }
    cachedToken = token;
    return token;
  }

  async function unsafe(path: string, body?: unknown, method = "POST"): Promise<Response> {
    const attempt = async (refresh: boolean) => {
      const token = await csrfToken(refresh);
      const headers: Record<string, string> = { "X-CSRFToken": token };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      return send(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    };
    let res = await attempt(false);
    if (res.status === 403) {
      const err = await errorFrom(res.clone());
      if (err.code === "csrf_failed") res = await attempt(true);
    }
    return res;
  }

  return {
    csrfToken,

    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const safe = method === "GET" || method === "HEAD";
      const res = safe ? await send(path, { method }) : await unsafe(path, body, method);
      if (!res.ok) throw await errorFrom(res);
      return (await res.json()) as T;
    },

    async session() {
      const res = await send("/api/session/");
      // The rest preset answers anonymous callers with 403 not_authenticated
      // (which still says whether sign-up is open).
      if (res.status === 403) {
        const err = await errorFrom(res.clone());
        if (err.code === "not_authenticated") {
          const body = (await res.json().catch(() => ({}))) as Partial<SessionState>;
          return {
            isAuthenticated: false,
            signupOpen: body.signupOpen,
            emailVerification: body.emailVerification,
            mfaPending: body.mfaPending,
          };
        }
        throw err;
      }
      if (!res.ok) throw await errorFrom(res);
      return (await res.json()) as SessionState;
    },

    async whoami() {
      const res = await send("/api/whoami/");
      if (res.status === 403) {
        const err = await errorFrom(res);
        if (err.code === "not_authenticated") return null;
        throw err;
      }
      if (!res.ok) throw await errorFrom(res);
      const body = (await res.json()) as Schemas["WhoAmI"];
      return "username" in body && typeof body.username === "string" ? body.username : null;
    },

    async login(username, password) {
      const res = await unsafe("/api/login/", { username, password } satisfies Schemas["LoginRequest"]);
      if (!res.ok) throw await errorFrom(res);
      // The server rotated the CSRF secret: the old token is dead.
      cachedToken = null;
    },

    async logout() {
      const res = await unsafe("/api/logout/");
      if (!res.ok) throw await errorFrom(res);
      cachedToken = null;
    },

    async sessions() {
      const res = await send("/api/sessions/");
      if (!res.ok) throw await errorFrom(res);
      return ((await res.json()) as Schemas["SessionList"]).sessions;
    },

    async endSession(id) {
      const res = await unsafe(`/api/sessions/${encodeURIComponent(id)}/`, undefined, "DELETE");
      if (!res.ok) throw await errorFrom(res);
      if (((await res.json()) as Schemas["SessionEnded"]).current) cachedToken = null;
    },

    async revokeOtherSessions() {
      const res = await unsafe("/api/sessions/revoke-others/");
      if (!res.ok) throw await errorFrom(res);
      return ((await res.json()) as Schemas["Ended"]).ended;
    },

    async changePassword(currentPassword, newPassword) {
      const res = await unsafe("/api/password/change/", { currentPassword, newPassword } satisfies Schemas["PasswordChange"]);
      if (!res.ok) throw await errorFrom(res);
      // The session moved to a new key and the CSRF secret rotated.
      cachedToken = null;
      return ((await res.json()) as Schemas["Ended"]).ended;
    },

    async reauthenticate(password) {
      const res = await unsafe("/api/reauthenticate/", { password } satisfies Schemas["PasswordProof"]);
      if (!res.ok) throw await errorFrom(res);
      cachedToken = null;
    },

    async signup(username, email, password) {
      const res = await unsafe("/api/signup/", { username, email, password } satisfies Schemas["SignupRequest"]);
      if (!res.ok) throw await errorFrom(res);
      const body = (await res.json()) as Schemas["SignedUpAnswer"];
      const signedIn = typeof body.username === "string";
      // Signed in: the server rotated the CSRF secret.
      if (signedIn) cachedToken = null;
      return { signedIn, detail: body.detail };
    },

    async verifyEmail(key) {
      const res = await unsafe("/api/email/verify/", { key } satisfies Schemas["KeyRequest"]);
      if (!res.ok) throw await errorFrom(res);
    },

    async changeEmail(email) {
      const res = await unsafe("/api/email/change/", { email } satisfies Schemas["EmailRequest"]);
      if (!res.ok) throw await errorFrom(res);
      return ((await res.json()) as Schemas["Detail"]).detail;
    },

    async resendVerification(email) {
      const res = await unsafe("/api/email/verify/resend/", { email } satisfies Schemas["ResendRequest"]);
      if (!res.ok) throw await errorFrom(res);
      return ((await res.json()) as Schemas["Detail"]).detail;
    },

    async requestPasswordReset(email) {
      const res = await unsafe("/api/password/reset/", { email } satisfies Schemas["ResetRequest"]);
      if (!res.ok) throw await errorFrom(res);
      return ((await res.json()) as Schemas["Detail"]).detail;
    },

    async secondFactor(code) {
      const res = await unsafe("/api/mfa/authenticate/", { code } satisfies Schemas["SecondStepRequest"]);
      if (!res.ok) throw await errorFrom(res);
      // Signed in: the session key and the CSRF secret changed.
      cachedToken = null;
    },

    async secondFactorPasskey(sign) {
      let res = await unsafe("/api/mfa/webauthn/options/");
      if (!res.ok) throw await errorFrom(res);
      const credential = await sign((await res.json()) as PublicKeyCredentialRequestOptionsJSON);
      res = await unsafe("/api/mfa/authenticate/", { credential });
      if (!res.ok) throw await errorFrom(res);
      cachedToken = null;
    },

    async oidcProviders() {
      const res = await send("/api/oidc/providers/");
      if (!res.ok) throw await errorFrom(res);
      return ((await res.json()) as Schemas["ProviderList"]).providers;
    },

    oidcStartUrl(provider, next) {
      const query = next ? `?next=${encodeURIComponent(next)}` : "";
      return `${config.baseUrl}/api/oidc/${encodeURIComponent(provider)}/start/${query}`;
    },

    async identities() {
      const res = await send("/api/oidc/identities/");
      if (!res.ok) throw await errorFrom(res);
      return ((await res.json()) as Schemas["IdentityList"]).identities;
    },

    async linkIdentity(provider) {
      const res = await unsafe(`/api/oidc/${encodeURIComponent(provider)}/link/`);
      if (!res.ok) throw await errorFrom(res);
      return ((await res.json()) as Schemas["LinkStarted"]).location;
    },

    async unlinkIdentity(id) {
      const res = await unsafe(`/api/oidc/identities/${id}/`, undefined, "DELETE");
      if (!res.ok) throw await errorFrom(res);
    },

    async passkeyLogin(sign) {
      let res = await unsafe("/api/login/webauthn/options/");
      if (!res.ok) throw await errorFrom(res);
      const credential = await sign((await res.json()) as PublicKeyCredentialRequestOptionsJSON);
      res = await unsafe("/api/login/webauthn/", { credential });
      if (!res.ok) throw await errorFrom(res);
      // Signed in: the session key and the CSRF secret changed.
      cachedToken = null;
    },

    async confirmPasswordReset(key, newPassword) {
      const res = await unsafe("/api/password/reset/confirm/", { key, newPassword } satisfies Schemas["ResetConfirm"]);
      if (!res.ok) throw await errorFrom(res);
    },
  };
}

/** The client configured at build time (one build per topology; see README). */
export function clientFromEnv(): ApiClient {
  const env = import.meta.env;
  const mode: CsrfMode = env.VITE_CSRF_MODE === "cookie" ? "cookie" : "header";
  const credentials: RequestCredentials = env.VITE_CREDENTIALS === "include" ? "include" : "same-origin";
  return createClient({ baseUrl: (env.VITE_API_BASE ?? "").replace(/\/$/, ""), csrfMode: mode, credentials });
}
