import { describe, expect, it } from "vitest";

import { ApiError, createClient, readCookie } from "./client";

interface Call {
  url: string;
  init: RequestInit;
}

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

function fakeFetch(handler: Handler) {
  const calls: Call[] = [];
  const fetch = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({ url, init });
    return handler(url, init);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

function header(call: Call, name: string): string | undefined {
  return (call.init.headers as Record<string, string> | undefined)?.[name];
}

describe("readCookie", () => {
  it("finds a cookie among others and decodes it", () => {
    expect(readCookie("a=1; csrftoken=abc%20d; b=2", "csrftoken")).toBe("abc d");
    expect(readCookie("xcsrftoken=no", "csrftoken")).toBeNull();
    expect(readCookie("", "csrftoken")).toBeNull();
  });
});

describe("header mode (same-origin, rest, cross-origin)", () => {
  it("takes the token from the X-CSRFToken response header and sends it back", async () => {
    const { fetch, calls } = fakeFetch((url) =>
      url.endsWith("/api/csrf/") ? json(200, { detail: "CSRF cookie set" }, { "X-CSRFToken": "T1" }) : json(200, { detail: "ok" }),
    );
    const api = createClient({ baseUrl: "http://api.test", csrfMode: "header", credentials: "include", fetch });
    await api.login("demo", "pw");
    expect(calls.map((c) => c.url)).toEqual(["http://api.test/api/csrf/", "http://api.test/api/login/"]);
    expect(header(calls[1], "X-CSRFToken")).toBe("T1");
    expect(header(calls[1], "Content-Type")).toBe("application/json");
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ username: "demo", password: "pw" });
    expect(calls.every((c) => c.init.credentials === "include")).toBe(true);
  });

  it("fetches a fresh token after login because the secret rotated", async () => {
    let n = 0;
    const { fetch, calls } = fakeFetch((url) =>
      url.endsWith("/api/csrf/") ? json(200, {}, { "X-CSRFToken": `T${++n}` }) : json(200, { detail: "ok" }),
    );
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    await api.login("demo", "pw");
    await api.logout();
    const logout = calls.find((c) => c.url === "/api/logout/")!;
    expect(header(logout, "X-CSRFToken")).toBe("T2");
  });

  it("retries once with a fresh token after a CSRF failure", async () => {
    let n = 0;
    let posts = 0;
    const { fetch, calls } = fakeFetch((url) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": `T${++n}` });
      posts += 1;
      return posts === 1 ? json(403, { detail: "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect.", code: "csrf_failed" }) : json(200, {});
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    await api.logout();
    const tokens = calls.filter((c) => c.url === "/api/logout/").map((c) => header(c, "X-CSRFToken"));
    expect(tokens).toEqual(["T1", "T2"]);
  });

  it("does not retry other 403s and does not loop on repeated CSRF failures", async () => {
    const { fetch, calls } = fakeFetch((url) =>
      url.endsWith("/api/csrf/") ? json(200, {}, { "X-CSRFToken": "T" }) : json(403, { detail: "CSRF Failed: x", code: "csrf_failed" }),
    );
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    await expect(api.logout()).rejects.toMatchObject({ status: 403, code: "csrf_failed" });
    expect(calls.filter((c) => c.url === "/api/logout/")).toHaveLength(2);
  });

  it("explains a missing exposed header instead of sending no token", async () => {
    const { fetch } = fakeFetch(() => json(200, {}));
    const api = createClient({ baseUrl: "http://api.test", csrfMode: "header", credentials: "include", fetch });
    await expect(api.login("a", "b")).rejects.toMatchObject({ code: "csrf_unavailable" });
  });
});

describe("cookie mode (embedded)", () => {
  it("echoes the csrftoken cookie it can read", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, {}));
    const api = createClient({
      baseUrl: "",
      csrfMode: "cookie",
      credentials: "same-origin",
      fetch,
      readCookies: () => "csrftoken=SECRET32",
    });
    await api.login("demo", "pw");
    expect(calls).toHaveLength(1);
    expect(header(calls[0], "X-CSRFToken")).toBe("SECRET32");
  });

  it("asks the server to set the cookie when it is missing", async () => {
    let cookies = "";
    const { fetch, calls } = fakeFetch((url) => {
      if (url === "/api/csrf/") cookies = "csrftoken=NEW";
      return json(200, {});
    });
    const api = createClient({ baseUrl: "", csrfMode: "cookie", credentials: "same-origin", fetch, readCookies: () => cookies });
    await api.logout();
    expect(calls.map((c) => c.url)).toEqual(["/api/csrf/", "/api/logout/"]);
    expect(header(calls[1], "X-CSRFToken")).toBe("NEW");
  });
});

describe("answers", () => {
  it("maps session and whoami, including the rest preset's 403 for anonymous users", async () => {
    const { fetch } = fakeFetch(() =>
      json(403, { detail: "Authentication credentials were not provided.", code: "not_authenticated" }),
    );
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    expect((await api.session()).isAuthenticated).toBe(false);
    expect(await api.whoami()).toBeNull();
  });

  it("returns the username from whoami and null for the tutorial's anonymous answer", async () => {
    let body: unknown = { username: "demo" };
    const { fetch } = fakeFetch(() => json(200, body));
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    expect(await api.whoami()).toBe("demo");
    body = { isAuthenticated: false };
    expect(await api.whoami()).toBeNull();
  });

  it("turns error bodies into ApiError with detail and code", async () => {
    const { fetch } = fakeFetch((url) =>
      url.endsWith("/api/csrf/") ? json(200, {}, { "X-CSRFToken": "T" }) : json(400, { detail: "Invalid credentials.", code: "invalid_credentials" }),
    );
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    const err = await api.login("demo", "bad").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: "invalid_credentials", detail: "Invalid credentials." });
  });

  it("reports network failures as status 0", async () => {
    const fetch = (async () => {
      throw new TypeError("Failed to fetch");
    }) as typeof globalThis.fetch;
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    const err = (await api.session().catch((e: unknown) => e)) as ApiError;
    expect(err.isNetworkError).toBe(true);
  });
});

describe("account calls", () => {
  it("ends a session with DELETE and the token, and revokes the others with POST", async () => {
    const { fetch, calls } = fakeFetch((url, init) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": "T" });
      if (init.method === "DELETE") return json(200, { detail: "Session ended.", current: false });
      return json(200, { detail: "2 other sessions ended.", ended: 2 });
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    await api.endSession("abc123");
    expect(await api.revokeOtherSessions()).toBe(2);
    const del = calls.find((c) => c.init.method === "DELETE")!;
    expect(del.url).toBe("/api/sessions/abc123/");
    expect(header(del, "X-CSRFToken")).toBe("T");
    expect(calls.find((c) => c.url === "/api/sessions/revoke-others/")!.init.method).toBe("POST");
  });

  it("passes the validators' problems through and refreshes the token after a change", async () => {
    let n = 0;
    let changes = 0;
    const { fetch, calls } = fakeFetch((url) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": `T${++n}` });
      if (url.endsWith("/api/password/change/") && ++changes === 1) {
        return json(400, {
          detail: "This password is too short.",
          code: "password_invalid",
          errors: [{ code: "password_too_short", message: "This password is too short." }, { bogus: 1 }],
        });
      }
      return json(200, { detail: "Password changed.", ended: 1 });
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    const err = (await api.changePassword("old", "x").catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe("password_invalid");
    expect(err.errors).toEqual([{ code: "password_too_short", message: "This password is too short." }]);
    expect(await api.changePassword("old", "a good new passphrase")).toBe(1);
    await api.revokeOtherSessions();
    const last = calls.filter((c) => c.url === "/api/sessions/revoke-others/")[0];
    expect(header(last, "X-CSRFToken")).toBe("T2");
    expect(JSON.parse(String(calls[2].init.body))).toEqual({ currentPassword: "old", newPassword: "a good new passphrase" });
  });

  it("reports reauthentication_required so the page can ask for the password", async () => {
    const { fetch } = fakeFetch((url) =>
      url.endsWith("/api/csrf/")
        ? json(200, {}, { "X-CSRFToken": "T" })
        : json(403, { detail: "Please enter your password again.", code: "reauthentication_required" }),
    );
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    await expect(api.revokeOtherSessions()).rejects.toMatchObject({ status: 403, code: "reauthentication_required" });
  });
});

describe("password reset calls", () => {
  it("posts the address and the key with the token, and passes the one answer through", async () => {
    const { fetch, calls } = fakeFetch((url) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": "T" });
      if (url.endsWith("/api/password/reset/")) return json(200, { detail: "If an account uses that address, we have sent it a link." });
      return json(400, { detail: "This link is invalid.", code: "invalid_key" });
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    expect(await api.requestPasswordReset("a@example.com")).toContain("If an account uses that address");
    await expect(api.confirmPasswordReset("K".repeat(32), "pw")).rejects.toMatchObject({ code: "invalid_key" });
    const posts = calls.filter((c) => c.init.method === "POST");
    expect(posts.map((c) => JSON.parse(String(c.init.body)))).toEqual([
      { email: "a@example.com" },
      { key: "K".repeat(32), newPassword: "pw" },
    ]);
    expect(posts.every((c) => header(c, "X-CSRFToken") === "T")).toBe(true);
  });
});

describe("sign-up calls", () => {
  it("tells a signed-in sign-up from a check-your-mail one and refreshes the token after signing in", async () => {
    let n = 0;
    let signedIn = true;
    const { fetch, calls } = fakeFetch((url) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": `T${++n}` });
      if (url.endsWith("/api/signup/"))
        return json(200, signedIn ? { detail: "Welcome! You are signed in.", username: "newbie" } : { detail: "Check your email to finish signing up." });
      return json(200, { detail: "ok" });
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    expect(await api.signup("newbie", "n@example.com", "pw")).toEqual({ signedIn: true, detail: "Welcome! You are signed in." });
    signedIn = false;
    expect((await api.signup("other", "o@example.com", "pw")).signedIn).toBe(false);
    await api.verifyEmail("K".repeat(32));
    const tokens = calls.filter((c) => c.init.method === "POST").map((c) => header(c, "X-CSRFToken"));
    expect(tokens).toEqual(["T1", "T2", "T2"]);
  });
});

describe("the rest preset's anonymous 403", () => {
  it("still tells the SPA whether sign-up is open", async () => {
    const { fetch } = fakeFetch(() =>
      json(403, { detail: "Authentication credentials were not provided.", code: "not_authenticated", signupOpen: true, emailVerification: "mandatory" }),
    );
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    expect(await api.session()).toEqual({ isAuthenticated: false, signupOpen: true, emailVerification: "mandatory" });
  });
});

describe("request (the admin's calls)", () => {
  it("sends the CSRF token only on unsafe methods and throws the server's error", async () => {
    const { fetch, calls } = fakeFetch((url, init) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": "T9" });
      if (init.method === "PATCH") return json(403, { detail: "Only superusers can change a superuser.", code: "permission_denied" });
      return json(200, { count: 0, countIsEstimate: false, results: [] });
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    expect(await api.request("GET", "/api/admin/users/")).toEqual({ count: 0, countIsEstimate: false, results: [] });
    expect(header(calls[0], "X-CSRFToken")).toBeUndefined();
    const err = (await api.request("PATCH", "/api/admin/users/2/", { firstName: "x" }).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect([err.status, err.code, err.detail]).toEqual([403, "permission_denied", "Only superusers can change a superuser."]);
    const patch = calls.find((c) => c.init.method === "PATCH")!;
    expect(header(patch, "X-CSRFToken")).toBe("T9");
    expect(JSON.parse(String(patch.init.body))).toEqual({ firstName: "x" });
  });
});

describe("passkeys", () => {
  it("signs in with a passkey: options, the browser's assertion, then a fresh token", async () => {
    let n = 0;
    const { fetch, calls } = fakeFetch((url) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": `T${++n}` });
      if (url.endsWith("/api/login/webauthn/options/")) return json(200, { challenge: "c1", rpId: "localhost" });
      return json(200, { detail: "Successfully logged in.", username: "demo" });
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    const seen: unknown[] = [];
    await api.passkeyLogin(async (options) => {
      seen.push(options);
      return { id: "cred", response: {} };
    });
    expect(seen).toEqual([{ challenge: "c1", rpId: "localhost" }]);
    const finish = calls.find((c) => c.url === "/api/login/webauthn/")!;
    expect(JSON.parse(String(finish.init.body))).toEqual({ credential: { id: "cred", response: {} } });
    expect(header(finish, "X-CSRFToken")).toBe("T1");
    await api.logout();
    expect(header(calls.find((c) => c.url === "/api/logout/")!, "X-CSRFToken")).toBe("T2");
  });

  it("keeps the methods of mfa_required and proves the second step with a passkey", async () => {
    const { fetch, calls } = fakeFetch((url) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": "T" });
      if (url.endsWith("/api/login/"))
        return json(401, { detail: "A second factor is required.", code: "mfa_required", methods: ["webauthn", "recovery_code"] });
      if (url.endsWith("/api/mfa/webauthn/options/")) return json(200, { challenge: "c2", allowCredentials: [{ id: "k" }] });
      return json(200, { detail: "Successfully logged in." });
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    const err = (await api.login("demo", "pw").catch((e: unknown) => e)) as ApiError;
    expect([err.code, err.methods]).toEqual(["mfa_required", ["webauthn", "recovery_code"]]);
    await api.secondFactorPasskey(async (o) => ({ answered: o.challenge }));
    const finish = calls.find((c) => c.url === "/api/mfa/authenticate/")!;
    expect(JSON.parse(String(finish.init.body))).toEqual({ credential: { answered: "c2" } });
  });

  it("stops before the server when the browser's prompt fails", async () => {
    const { fetch, calls } = fakeFetch((url) =>
      url.endsWith("/api/csrf/") ? json(200, {}, { "X-CSRFToken": "T" }) : json(200, { challenge: "c" }),
    );
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    await expect(api.passkeyLogin(async () => Promise.reject(new Error("closed")))).rejects.toThrow("closed");
    expect(calls.some((c) => c.url === "/api/login/webauthn/")).toBe(false);
  });
});

describe("OpenID Connect", () => {
  it("builds the start URL on the API's origin with next encoded, and lists providers", async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { providers: [{ id: "corp", name: "Corp SSO" }] }));
    const api = createClient({ baseUrl: "http://api.test", csrfMode: "header", credentials: "include", fetch });
    expect(api.oidcStartUrl("corp")).toBe("http://api.test/api/oidc/corp/start/");
    expect(api.oidcStartUrl("corp", "/account?tab=2")).toBe("http://api.test/api/oidc/corp/start/?next=%2Faccount%3Ftab%3D2");
    expect(await api.oidcProviders()).toEqual([{ id: "corp", name: "Corp SSO" }]);
    expect(calls[0].url).toBe("http://api.test/api/oidc/providers/");
  });

  it("links with a CSRF-protected POST and unlinks with a DELETE, throwing the server's code", async () => {
    const { fetch, calls } = fakeFetch((url, init) => {
      if (url.endsWith("/api/csrf/")) return json(200, {}, { "X-CSRFToken": "T" });
      if (url.endsWith("/link/")) return json(200, { location: "https://idp.test/auth?x=1" });
      if (init.method === "DELETE") {
        return json(409, { detail: "Last way to sign in.", code: "last_sign_in_method" });
      }
      return json(200, { identities: [] });
    });
    const api = createClient({ baseUrl: "", csrfMode: "header", credentials: "same-origin", fetch });
    expect(await api.linkIdentity("corp")).toBe("https://idp.test/auth?x=1");
    const link = calls.find((c) => c.url === "/api/oidc/corp/link/")!;
    expect([link.init.method, header(link, "X-CSRFToken")]).toEqual(["POST", "T"]);
    const err = await api.unlinkIdentity(7).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect([err.status, err.code]).toEqual([409, "last_sign_in_method"]);
    expect(calls.at(-1)!.url).toBe("/api/oidc/identities/7/");
    expect(await api.identities()).toEqual([]);
  });
});
