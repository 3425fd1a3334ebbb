// The scenario each topology runs: the tutorial's flows, the attacks, then every
// feature's scenario in turn.

import fs from "node:fs";
import path from "node:path";

import { ATTACKER, ATTACKER_PASSWORD, PASSWORD, Step, USER, assert, launch, log, signedInAs, step } from "../harness.mjs";
import { accountScenario, resetScenario, signupScenario } from "./account.mjs";
import { adminScenario } from "./admin.mjs";
import { forwardAuthScenario } from "./forward-auth.mjs";
import { mfaScenario, passkeyScenario } from "./mfa.mjs";
import { oidcScenario } from "./oidc.mjs";

/** Pages an attacker controls; `api` is the API origin. */
export function attackPages(api) {
  return {
    "/logout-form.html": `<!doctype html><form id="f" method="POST" action="${api}/api/logout/"><input name="x" value="1"></form><script>document.getElementById("f").submit()</script>`,
    // The classic JSON-via-text/plain login CSRF: the body parses as JSON.
    "/login-form.html": `<!doctype html><form id="f" method="POST" enctype="text/plain" action="${api}/api/login/"><input name='{"username":"${ATTACKER}","password":"${ATTACKER_PASSWORD}","x":"' value='"}'></form><script>document.getElementById("f").submit()</script>`,
    "/navigate.html": `<!doctype html><script>location.href = ${JSON.stringify(api + "/api/logout")}</script>`,
    // Account actions a foreign page might try: classic forms (no preflight) and fetch (preflighted).
    "/revoke-others-form.html": `<!doctype html><form id="f" method="POST" enctype="text/plain" action="${api}/api/sessions/revoke-others/"><input name='{"x":"' value='"}'></form><script>document.getElementById("f").submit()</script>`,
    "/password-form.html": `<!doctype html><form id="f" method="POST" enctype="text/plain" action="${api}/api/password/change/"><input name='{"currentPassword":${JSON.stringify(PASSWORD).replaceAll("'", "&#39;")},"newPassword":"pwned-by-mallory-1","x":"' value='"}'></form><script>document.getElementById("f").submit()</script>`,
    "/account-fetch.html": `<!doctype html><body><script>
      (async () => {
        const out = {};
        const calls = {
          list: ["GET", "/api/sessions/"],
          revoke: ["POST", "/api/sessions/revoke-others/", {}],
          change: ["POST", "/api/password/change/", { currentPassword: ${JSON.stringify(PASSWORD)}, newPassword: "pwned-by-mallory-1" }],
        };
        for (const [k, [method, p, body]] of Object.entries(calls)) {
          try {
            const r = await fetch(${JSON.stringify(api)} + p, { method, credentials: "include",
              headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
            out[k] = "read:" + r.status;
          } catch (e) { out[k] = "blocked:" + e.name; }
        }
        document.body.dataset.result = JSON.stringify(out);
      })();
    </script></body>`,
    "/link.html": `<!doctype html><a id="go" href="${api}/api/logout/">win a prize</a>`,
    // Admin actions: a classic form (no preflight) creating a user, and fetches (preflighted).
    "/admin-form.html": `<!doctype html><form id="f" method="POST" enctype="text/plain" action="${api}/api/admin/users/"><input name='{"username":"pwned","password":"pwned pass phrase 99","x":"' value='"}'></form><script>document.getElementById("f").submit()</script>`,
    "/admin-fetch.html": `<!doctype html><body><script>
      (async () => {
        const out = {};
        const calls = {
          list: ["GET", "/api/admin/users/"],
          change: ["PATCH", "/api/admin/users/1/", { firstName: "pwned", isActive: false }],
          create: ["POST", "/api/admin/users/", { username: "pwned", password: "pwned pass phrase 99" }],
        };
        for (const [k, [method, p, body]] of Object.entries(calls)) {
          try {
            const r = await fetch(${JSON.stringify(api)} + p, { method, credentials: "include",
              headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
            out[k] = "read:" + r.status;
          } catch (e) { out[k] = "blocked:" + e.name; }
        }
        document.body.dataset.result = JSON.stringify(out);
      })();
    </script></body>`,
    "/read.html": `<!doctype html><body><script>
      (async () => {
        const out = {};
        for (const p of ["/api/csrf/", "/api/whoami/"]) {
          try { const r = await fetch(${JSON.stringify(api)} + p, { credentials: "include" }); out[p] = "read:" + (await r.text()); }
          catch (e) { out[p] = "blocked:" + e.name; }
        }
        try {
          const r = await fetch(${JSON.stringify(api)} + "/api/login/", { method: "POST", credentials: "include",
            headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "${ATTACKER}", password: "${ATTACKER_PASSWORD}" }) });
          out.login = "read:" + r.status;
        } catch (e) { out.login = "blocked:" + e.name; }
        document.body.dataset.result = JSON.stringify(out);
      })();
    </script></body>`,
  };
}

/** Exactly the tutorial's client calls, in plain JS (no build step). */
export function tutorialPage(api, mode) {
  const credentials = api ? "include" : "same-origin";
  const src = `/tutorial.js?api=${encodeURIComponent(api)}&mode=${mode}&credentials=${credentials}`;
  return `<!doctype html><meta charset="utf-8"><body><script src="${src}"></script></body>`;
}

export const TUTORIAL_JS = `
(async () => {
  const q = new URLSearchParams(document.currentScript.src.split("?")[1]);
  const api = q.get("api"), mode = q.get("mode"), credentials = q.get("credentials");
  const steps = [];
  const isResponseOk = (r) => { if (r.status >= 200 && r.status <= 299) return r.json(); throw Error(r.statusText); };
  const cookie = (n) => (document.cookie.split("; ").find((c) => c.startsWith(n + "=")) || "").split("=")[1];
  try {
    let token;
    if (mode === "cookie") {
      await fetch(api + "/api/session/", { credentials }).then((r) => r.json());
      token = cookie("csrftoken");
    } else {
      const r = await fetch(api + "/api/csrf/", { credentials });
      token = r.headers.get("X-CSRFToken");
    }
    steps.push("token:" + (token ? token.length : 0));
    const login = await fetch(api + "/api/login/", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      credentials, body: JSON.stringify({ username: "${USER}", password: ${JSON.stringify(PASSWORD)} }) }).then(isResponseOk);
    steps.push("login:" + login.detail);
    const who = await fetch(api + "/api/whoami/", { headers: { "Content-Type": "application/json" }, credentials }).then(isResponseOk);
    steps.push("whoami:" + who.username);
    const out = await fetch(api + "/api/logout", { credentials }).then(isResponseOk);
    steps.push("logout:" + out.detail);
    const after = await fetch(api + "/api/session/", { credentials });
    steps.push("after:" + after.status + ":" + (await after.text()));
  } catch (e) { steps.push("error:" + e.message); }
  document.body.dataset.result = JSON.stringify(steps);
})();
`;

/**
 * The scenario every topology runs.
 * spa: the SPA URL; api: the API origin as the browser sees it;
 * crossSite / sameSite: attacker origins; embedded: whether csrftoken may be readable.
 */
export async function scenario(t) {
  const { context, profile } = await launch();
  const ctx = new Step(t.name);
  const page = await context.newPage();
  ctx.page = page;
  const pageConsole = [];
  ctx.consoleErrors = [];
  page.on("console", (m) => {
    pageConsole.push(m.text());
    if (m.type() === "error") ctx.consoleErrors.push(m.text());
  });
  try {
    await step(ctx, "the login form shows", async () => {
      await page.goto(t.spa);
      await page.waitForSelector('[data-testid="login-form"]');
      const focused = await page.evaluate(() => document.activeElement?.id);
      assert(focused === "username", `username field should have focus, got ${focused}`);
      const bootstrapLoaded = await page.evaluate(() => getComputedStyle(document.querySelector(".btn-primary")).backgroundColor);
      assert(bootstrapLoaded !== "rgba(0, 0, 0, 0)", "Bootstrap's styles did not load");
    });

    await step(ctx, "the page runs under its Content-Security-Policy without violations", async () => {
      const violations = pageConsole.filter((l) => /Content Security Policy|Refused to/i.test(l));
      assert(violations.length === 0, violations.join("\n"));
    });

    await step(ctx, "a wrong password shows the error", async () => {
      await page.fill("#username", USER);
      await page.fill("#password", "not-the-password");
      await page.click('button[type="submit"]');
      const err = await page.waitForSelector('[data-testid="login-error"]');
      const text = await err.textContent();
      assert(text === "Wrong username or password.", `error text: ${text}`);
    });

    await step(ctx, "the right password shows the username", async () => {
      await page.fill("#username", USER);
      await page.fill("#password", PASSWORD);
      await page.click('button[type="submit"]');
      await page.waitForSelector('[data-testid="greeting"]');
      assert((await signedInAs(page)) === USER, "greeting names the user");
      if (process.env.E2E_SCREENSHOT && t.name === "embedded") {
        await page.screenshot({ path: process.env.E2E_SCREENSHOT });
      }
    });

    await step(ctx, "a reload keeps the session without flashing the login form", async () => {
      await page.addInitScript(() => {
        window.__sawLoginForm = false;
        new MutationObserver(() => {
          if (document.querySelector('[data-testid="login-form"]')) window.__sawLoginForm = true;
        }).observe(document, { childList: true, subtree: true });
      });
      await page.reload();
      assert((await signedInAs(page)) === USER, "still signed in after reload");
      assert(!(await page.evaluate(() => window.__sawLoginForm)), "the login form flashed during load");
    });

    await step(ctx, "WhoAmI works", async () => {
      await page.click("text=WhoAmI");
      const who = await page.waitForSelector('[data-testid="whoami"]');
      assert((await who.textContent()) === `You are ${USER}.`, "whoami text");
    });

    await step(ctx, "document.cookie never holds the session (nor csrftoken outside embedded)", async () => {
      const cookies = await page.evaluate(() => document.cookie);
      assert(!cookies.includes("sessionid"), `sessionid readable: ${cookies}`);
      if (t.embedded) assert(cookies.includes("csrftoken="), `embedded SPA must read csrftoken: ${cookies}`);
      else assert(!cookies.includes("csrftoken"), `csrftoken readable: ${cookies}`);
    });

    await accountScenario(ctx, t, page);
    await resetScenario(ctx, t, page);
    await signupScenario(ctx, t);
    await adminScenario(ctx, t);
    await mfaScenario(ctx, t);
    await passkeyScenario(ctx, t);
    if (t.forwardAuth) await forwardAuthScenario(ctx, t);
    if (t.oidc) await oidcScenario(t);

    for (const [where, origin] of [
      ["cross-site page", t.crossSite],
      ["same-site page on another port", t.sameSite],
    ]) {
      for (const [what, file] of [
        ["auto-submitted logout form", "/logout-form.html"],
        ["auto-submitted text/plain login form", "/login-form.html"],
        ["top-level navigation to /api/logout", "/navigate.html"],
      ]) {
        await step(ctx, `a ${what} from a ${where} changes nothing`, async () => {
          const attack = await context.newPage();
          try {
            await attack.goto(origin + file);
            await attack.waitForLoadState("load");
            await attack.waitForTimeout(300);
          } finally {
            await attack.close();
          }
          await page.reload();
          assert((await signedInAs(page)) === USER, `session changed after ${what} from ${origin}`);
        });
      }
      await step(ctx, `a link to /api/logout on a ${where} changes nothing`, async () => {
        const attack = await context.newPage();
        try {
          await attack.goto(origin + "/link.html");
          await Promise.all([attack.waitForLoadState("load"), attack.click("#go")]);
          await attack.waitForTimeout(300);
        } finally {
          await attack.close();
        }
        await page.reload();
        assert((await signedInAs(page)) === USER, `session changed after link click from ${origin}`);
      });
    }

    if (t.disallowed) {
      await step(ctx, "a page on a disallowed origin can neither read API answers nor log in", async () => {
        const evil = await context.newPage();
        try {
          await evil.goto(t.disallowed + "/read.html");
          await evil.waitForFunction(() => document.body.dataset.result, null, { timeout: 10000 });
          const r = JSON.parse(await evil.evaluate(() => document.body.dataset.result));
          for (const [k, v] of Object.entries(r)) assert(v.startsWith("blocked:"), `${k} was readable: ${v}`);
        } finally {
          await evil.close();
        }
        await page.reload();
        assert((await signedInAs(page)) === USER, "session changed");
      });
    }

    await step(ctx, "log out returns to the form and a reload stays logged out", async () => {
      await page.click("text=Log out");
      await page.waitForSelector('[data-testid="login-form"]');
      await page.reload();
      await page.waitForSelector('[data-testid="login-form"]');
      assert((await signedInAs(page)) === null, "still signed in after logout");
    });

    await step(ctx, "a login CSRF from a foreign page cannot sign the browser in as the attacker", async () => {
      for (const origin of [t.crossSite, t.sameSite]) {
        const attack = await context.newPage();
        await attack.goto(origin + "/login-form.html");
        await attack.waitForLoadState("load");
        await attack.waitForTimeout(300);
        await attack.close();
      }
      await page.reload();
      assert((await signedInAs(page)) === null, "the attacker's login took effect");
    });

    await step(ctx, "the tutorial's own client calls work unchanged", async () => {
      const tut = await context.newPage();
      try {
        await tut.goto(t.tutorial);
        await tut.waitForFunction(() => document.body.dataset.result, null, { timeout: 15000 });
        const steps = JSON.parse(await tut.evaluate(() => document.body.dataset.result));
        const expected = [
          "token:" + (t.embedded ? 32 : 64),
          "login:Successfully logged in.",
          `whoami:${USER}`,
          "logout:Successfully logged out.",
        ];
        for (const e of expected) assert(steps.includes(e), `missing ${e} in ${JSON.stringify(steps)}`);
        const after = steps.find((s) => s.startsWith("after:"));
        assert(after && (after.includes('"isAuthenticated":false') || after.startsWith("after:403")), `after logout: ${after}`);
      } finally {
        await tut.close();
      }
    });

    if (t.extra) await t.extra(ctx);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
