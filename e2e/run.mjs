// End-to-end tests of Latchkey's four deployment topologies in Debian's
// Chromium, driven by playwright-core.
//
// One command: `node e2e/run.mjs` (part of scripts/test). It builds the SPA
// variants it needs, starts every server on free loopback ports, waits for
// readiness, runs the scenario in each topology, and stops everything by PID,
// also on failure. Artifacts (a screenshot and the console log per failed
// step, server logs) go to a temp folder whose path is printed.
//
// Environment: LATCHKEY_BIN (default target/debug/latchkey), CHROMIUM
// (default /usr/bin/chromium), E2E_ONLY=embedded,rest (subset),
// E2E_SCREENSHOT=path (save a screenshot of the signed-in SPA there).

import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = process.env.LATCHKEY_BIN ?? path.join(ROOT, "target/debug/latchkey");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ONLY = process.env.E2E_ONLY ? process.env.E2E_ONLY.split(",") : null;
const ART = fs.mkdtempSync(path.join(os.tmpdir(), "latchkey-e2e-"));
const USER = "demo";
const PASSWORD = "e2e-password-демо";
const ATTACKER = "mallory";
const ATTACKER_PASSWORD = "mallory-password";
const NEW_PASSWORD = "a fresh e2e passphrase 2";
const MFA_USER = "two-step";
const MFA_PASSWORD = "two-step passphrase 8";
const PASSKEY_USER = "passkey-user";
const PASSKEY_PASSWORD = "passkey passphrase 8";
const STAFF_MFA_USER = "mfa-staff";
// Short, so the re-authentication prompt can be exercised without waiting minutes.
const REAUTH_WINDOW_S = 3;
const OIDC_LOGIN = "oidc-user";
const DEADLINE_MS = 10 * 60 * 1000;

const children = [];
let passed = 0;
let failed = 0;
const failures = [];

function log(...args) {
  console.log("[e2e]", ...args);
}

// ---------------------------------------------------------------- processes

function start(name, cmd, args, opts = {}) {
  const out = fs.openSync(path.join(ART, `${name}.log`), "a");
  const child = spawn(cmd, args, { stdio: ["ignore", out, out], ...opts });
  child.name = name;
  children.push(child);
  child.on("exit", (code, signal) => {
    child.exited = { code, signal };
  });
  return child;
}

async function stop(child) {
  if (!child || child.exited) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.exited || child.kill("SIGKILL"), 5000);
  if (!child.exited) await once(child, "exit").catch(() => {});
  clearTimeout(timer);
}

async function stopAll() {
  await Promise.all(children.map(stop));
}

function killAllNow() {
  for (const c of children) if (!c.exited) c.kill("SIGKILL");
}
process.on("exit", killAllNow);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    killAllNow();
    process.exit(130);
  });
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

async function freePort() {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

async function waitFor(url, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const res = await fetch(url, { redirect: "manual" });
      if (res.status < 500) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready after ${ms} ms: ${last}`);
}

// ------------------------------------------------------------ static files

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

/** A static server: files from `dir` (SPA fallback to index.html), plus `extra` pages. */
async function staticServer(port, dir, extra = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (extra[url.pathname]) {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(extra[url.pathname]);
      return;
    }
    if (!dir) {
      res.writeHead(404).end("not found");
      return;
    }
    let file = path.join(dir, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ""));
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      file = path.join(dir, "index.html");
    }
    res.writeHead(200, { "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return server;
}

/** The upstream deploy/nginx/forward-auth.conf guards: it says what reached it. */
async function protectedUpstream(port) {
  const server = http.createServer((req, res) => {
    const esc = (v) => String(v ?? "").replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(
      `<!doctype html><title>Guarded</title><h1 data-testid="protected">Hello ${esc(req.headers["x-auth-request-user"])}</h1>` +
        `<p id="groups">${esc(req.headers["x-auth-request-groups"])}</p><p id="path">${esc(req.url)}</p>` +
        `<p id="cookie">${req.headers.cookie ? "cookie" : "no cookie"}</p>`,
    );
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return server;
}

// ------------------------------------------------------------- the pages

/** Pages an attacker controls; `api` is the API origin. */
function attackPages(api) {
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
function tutorialPage(api, mode) {
  const credentials = api ? "include" : "same-origin";
  const src = `/tutorial.js?api=${encodeURIComponent(api)}&mode=${mode}&credentials=${credentials}`;
  return `<!doctype html><meta charset="utf-8"><body><script src="${src}"></script></body>`;
}

const TUTORIAL_JS = `
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

// ------------------------------------------------------------ SMTP sink

/** A real SMTP server on a loopback port that keeps every message (what a dev mail catcher does). */
async function smtpSink() {
  const messages = [];
  const server = net.createServer((socket) => {
    let buffer = "";
    let inData = false;
    let data = [];
    let rcpt = [];
    socket.write("220 e2e-sink ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      let nl;
      while ((nl = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            messages.push({ to: rcpt, data: data.join("\r\n") });
            data = [];
            rcpt = [];
            socket.write("250 OK\r\n");
          } else data.push(line.startsWith(".") ? line.slice(1) : line);
          continue;
        }
        const cmd = line.toUpperCase();
        if (cmd.startsWith("EHLO")) socket.write("250-e2e-sink\r\n250 8BITMIME\r\n");
        else if (cmd.startsWith("RCPT TO:")) {
          rcpt.push(line.slice(8).trim().replace(/[<>]/g, ""));
          socket.write("250 OK\r\n");
        } else if (cmd === "DATA") {
          inData = true;
          socket.write("354 go ahead\r\n");
        } else if (cmd === "QUIT") socket.end("221 bye\r\n");
        else socket.write("250 OK\r\n");
      }
    });
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: server.address().port, messages, close: () => server.close() };
}

/** The text of a message's body as a mail client shows it (quoted-printable decoded). */
function mailBody(data) {
  const [head, ...rest] = data.split("\r\n\r\n");
  const body = rest.join("\r\n\r\n");
  if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
    const bytes = Buffer.from(body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1");
    return bytes.toString("utf8");
  }
  if (/content-transfer-encoding:\s*base64/i.test(head)) return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  return body;
}

// ---------------------------------------------------------------- checks

class Step {
  constructor(topology) {
    this.topology = topology;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function step(ctx, name, fn) {
  const label = `${ctx.topology}: ${name}`;
  const consoleLines = [];
  const onConsole = (m) => consoleLines.push(`[${m.type()}] ${m.text()}`);
  ctx.page?.on("console", onConsole);
  try {
    await fn();
    passed += 1;
    log(`ok   ${label}`);
  } catch (e) {
    failed += 1;
    const slug = label.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
    const shot = path.join(ART, `${slug}.png`);
    try {
      await ctx.page?.screenshot({ path: shot, fullPage: true });
    } catch {
      // The page may be gone.
    }
    fs.writeFileSync(path.join(ART, `${slug}.console.log`), consoleLines.join("\n"));
    failures.push(`${label}: ${e.message}`);
    log(`FAIL ${label}: ${e.message} (screenshot: ${shot})`);
  } finally {
    ctx.page?.off("console", onConsole);
  }
}

async function signedInAs(page) {
  await page.waitForSelector('[data-testid="greeting"], [data-testid="login-form"]', { timeout: 10000 });
  const greeting = await page.$('[data-testid="greeting"]');
  return greeting ? (await greeting.textContent()).replace("You are logged in as ", "").trim() : null;
}

async function uiLogin(page, spa, password = PASSWORD, username = USER) {
  await page.goto(spa);
  await page.waitForSelector('[data-testid="login-form"]');
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="greeting"], [data-testid="login-error"]');
}

async function sessionRows(page) {
  await page.waitForSelector('[data-testid="sessions-table"]');
  return page.$$eval('[data-testid="session-row"]', (rows) =>
    rows.map((r) => ({ current: r.dataset.current === "true", text: r.textContent })),
  );
}

/** Opens the Account page through the navigation, as a person would. */
async function openAccount(page, spa) {
  if (!page.url().startsWith(spa)) await page.goto(spa);
  await page.waitForSelector('[data-testid="nav-account"]');
  await page.click('[data-testid="nav-account"]');
  return sessionRows(page);
}

/** After a sensitive click: confirm the password if the dialog asks for it. */
async function confirmIfAsked(page, done) {
  const first = await page.waitForSelector(`[data-testid="reauth-dialog"], ${done}`);
  if ((await first.getAttribute("data-testid")) === "reauth-dialog") {
    await page.fill("#reauth-password", PASSWORD);
    await page.click('[data-testid="reauth-dialog"] button[type="submit"]');
  }
  await page.waitForSelector(done);
}

/**
 * The Account page with two browsers: list, end the other, sign out
 * everywhere else, re-authenticate, change the password; and foreign pages
 * that try the same. Leaves `page` signed in with PASSWORD.
 */
async function accountScenario(ctx, t, page) {
  const second = await launch();
  const other = await second.context.newPage();
  const otherSignedIn = async () => {
    await other.reload();
    return (await signedInAs(other)) === USER;
  };
  try {
    await step(ctx, "the Account page lists this browser in words, marked as this device", async () => {
      const rows = await openAccount(page, t.spa);
      assert(rows.length === 1 && rows[0].current, JSON.stringify(rows));
      assert(/Headless Chrome \d+ on Linux/.test(rows[0].text) && rows[0].text.includes("This device"), rows[0].text);
      assert(rows[0].text.includes("just now"), `relative time: ${rows[0].text}`);
      assert(new URL(page.url()).pathname === "/account", page.url());
    });

    await step(ctx, "a second browser signs in and both sessions are listed; a reload of /account stays there", async () => {
      await uiLogin(other, t.spa);
      assert((await signedInAs(other)) === USER, "second browser signed in");
      await page.reload();
      const rows = await sessionRows(page);
      assert(rows.length === 2 && rows.filter((r) => r.current).length === 1, JSON.stringify(rows));
    });

    for (const [where, origin] of [
      ["cross-site page", t.crossSite],
      ["same-site page on another port", t.sameSite],
    ]) {
      await step(ctx, `a ${where} can neither end sessions nor change the password`, async () => {
        for (const file of ["/revoke-others-form.html", "/password-form.html"]) {
          const attack = await page.context().newPage();
          try {
            await attack.goto(origin + file);
            await attack.waitForLoadState("load");
            await attack.waitForTimeout(300);
          } finally {
            await attack.close();
          }
        }
        const probe = await page.context().newPage();
        try {
          await probe.goto(origin + "/account-fetch.html");
          await probe.waitForFunction(() => document.body.dataset.result, null, { timeout: 10000 });
          const r = JSON.parse(await probe.evaluate(() => document.body.dataset.result));
          for (const [k, v] of Object.entries(r)) assert(v.startsWith("blocked:") || v === "read:403", `${k}: ${v}`);
        } finally {
          await probe.close();
        }
        await page.reload();
        assert((await sessionRows(page)).length === 2, "both sessions still there");
        assert(await otherSignedIn(), "the other browser is still signed in");
      });
    }

    await step(ctx, "ending the other session asks for the password once the sign-in is old, then signs that browser out", async () => {
      await page.waitForTimeout(REAUTH_WINDOW_S * 1000 + 500);
      await page.click('[data-testid="session-row"][data-current="false"] button');
      await page.waitForSelector('[data-testid="reauth-dialog"]');
      const focused = await page.evaluate(() => document.activeElement?.id);
      assert(focused === "reauth-password", `the password field has focus, got ${focused}`);
      await page.fill("#reauth-password", "not-the-password");
      await page.click('[data-testid="reauth-dialog"] button[type="submit"]');
      const err = await page.waitForSelector('[data-testid="reauth-error"]');
      assert((await err.textContent()) === "That is not your password.", await err.textContent());
      await page.fill("#reauth-password", PASSWORD);
      await page.click('[data-testid="reauth-dialog"] button[type="submit"]');
      await page.waitForSelector('[data-testid="account-notice"]');
      assert((await page.$('[data-testid="reauth-dialog"]')) === null, "the dialog closed");
      const rows = await sessionRows(page);
      assert(rows.length === 1 && rows[0].current, JSON.stringify(rows));
      assert(!(await otherSignedIn()), "the other browser is signed out on its next request");
    });

    await step(ctx, "sign out everywhere else keeps only this browser", async () => {
      await uiLogin(other, t.spa);
      await page.reload();
      assert((await sessionRows(page)).length === 2, "two sessions");
      await page.click('[data-testid="revoke-others"]');
      await confirmIfAsked(page, '[data-testid="account-notice"]');
      assert((await sessionRows(page)).length === 1, "one session left");
      assert(!(await otherSignedIn()), "the other browser is signed out");
      await page.reload();
      assert((await sessionRows(page)).length === 1, "this browser is still signed in");
    });

    await step(ctx, "changing the password explains refusals, then signs the other browser out", async () => {
      await uiLogin(other, t.spa);
      await page.reload();
      await page.waitForSelector('[data-testid="password-form"]');
      const submit = '[data-testid="password-form"] button[type="submit"]';
      await page.fill("#current-password", "not-the-password");
      await page.fill("#new-password", NEW_PASSWORD);
      await page.fill("#confirm-password", NEW_PASSWORD);
      await page.click(submit);
      await page.waitForSelector('[data-testid="current-password-error"]');
      await page.fill("#current-password", PASSWORD);
      await page.fill("#new-password", "12345678");
      await page.fill("#confirm-password", "12345678");
      await page.click(submit);
      const problems = await (await page.waitForSelector('[data-testid="password-problems"]')).textContent();
      assert(problems.includes("too common") && problems.includes("entirely numeric"), problems);
      await page.fill("#new-password", NEW_PASSWORD);
      await page.fill("#confirm-password", NEW_PASSWORD);
      await page.click(submit);
      const done = await (await page.waitForSelector('[data-testid="password-changed"]')).textContent();
      assert(done.includes("1 other session was signed out"), done);
      assert(!(await otherSignedIn()), "the other browser is signed out");
      await uiLogin(other, t.spa, PASSWORD);
      assert(await other.$('[data-testid="login-error"]'), "the old password no longer works");
      await page.reload();
      assert((await sessionRows(page)).length === 1, "this browser stays signed in");
      // Back to the scenario's password for the steps that follow.
      await page.fill("#current-password", NEW_PASSWORD);
      await page.fill("#new-password", PASSWORD);
      await page.fill("#confirm-password", PASSWORD);
      await page.click(submit);
      await page.waitForSelector('[data-testid="password-changed"]');
    });

    await step(ctx, "the Account page runs without console errors", async () => {
      const errors = ctx.consoleErrors.filter((l) => !/status of 40[03]/.test(l));
      assert(errors.length === 0, errors.join("\n"));
    });
  } finally {
    await second.context.close();
    fs.rmSync(second.profile, { recursive: true, force: true });
  }
  await page.goto(t.spa);
}

/**
 * Forgot password, as a person does it: the link on the sign-in form, the
 * mail from a real SMTP server, the link, a new password. Then the old
 * password fails, the new one works, and a browser that was signed in is
 * signed out. Restores PASSWORD (with the CLI) and signs `page` in again.
 */
async function resetScenario(ctx, t, page) {
  const other = await launch();
  const stranger = await launch();
  try {
    await step(ctx, "forgot password: the mailed link sets a new password and signs every browser out", async () => {
      const otherPage = await other.context.newPage();
      await uiLogin(otherPage, t.spa);
      assert((await signedInAs(otherPage)) === USER, "the other browser is signed in");
      const p = await stranger.context.newPage();
      await p.goto(t.spa);
      await p.waitForSelector('[data-testid="login-form"]');
      await p.click("text=Forgot your password?");
      await p.fill("#reset-email", "demo@example.com");
      const before = t.smtp.messages.length;
      await p.click('[data-testid="forgot-form"] button[type="submit"]');
      const said = await (await p.waitForSelector('[data-testid="reset-requested"]')).textContent();
      assert(said.includes("If an account uses that address"), said);
      const deadline = Date.now() + 15000;
      while (t.smtp.messages.length === before) {
        assert(Date.now() < deadline, "no mail reached the SMTP server");
        await p.waitForTimeout(100);
      }
      const mail = t.smtp.messages[t.smtp.messages.length - 1];
      assert(mail.to.includes("demo@example.com"), JSON.stringify(mail.to));
      const link = mailBody(mail.data).match(/(http\S+\/reset-password\?key=[A-Za-z0-9]{32})/)?.[1];
      assert(link && link.startsWith(new URL(t.spa).origin), `link ${link} should start with ${t.spa}`);
      await p.goto(link);
      await p.fill("#reset-new-password", "12345678");
      await p.fill("#reset-confirm-password", "12345678");
      await p.click('[data-testid="reset-form"] button[type="submit"]');
      const problems = await (await p.waitForSelector('[data-testid="reset-problems"]')).textContent();
      assert(problems.includes("too common"), problems);
      await p.fill("#reset-new-password", NEW_PASSWORD);
      await p.fill("#reset-confirm-password", NEW_PASSWORD);
      await p.click('[data-testid="reset-form"] button[type="submit"]');
      await p.waitForSelector('[data-testid="password-reset-done"]');
      await p.goto(link);
      await p.fill("#reset-new-password", "yet another pass 4");
      await p.fill("#reset-confirm-password", "yet another pass 4");
      await p.click('[data-testid="reset-form"] button[type="submit"]');
      const used = await (await p.waitForSelector('[data-testid="reset-error"]')).textContent();
      assert(used.includes("invalid, has expired or was already used"), used);
      await otherPage.reload();
      assert((await signedInAs(otherPage)) === null, "the other browser was signed out");
      await uiLogin(otherPage, t.spa, PASSWORD);
      assert(await otherPage.$('[data-testid="login-error"]'), "the old password fails");
      await uiLogin(otherPage, t.spa, NEW_PASSWORD);
      assert((await signedInAs(otherPage)) === USER, "the new password works");
    });
  } finally {
    for (const b of [other, stranger]) {
      await b.context.close();
      fs.rmSync(b.profile, { recursive: true, force: true });
    }
  }
  run(BIN, ["changepassword", USER, "--no-input"], { env: { ...t.env, LATCHKEY_PASSWORD: PASSWORD } });
  await uiLogin(page, t.spa);
}

/** Waits for the next mail to `to` on the sink; returns its body text. */
async function nextMail(t, to, since, page) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const m = t.smtp.messages.slice(since).find((x) => x.to.includes(to));
    if (m) return mailBody(m.data);
    assert(Date.now() < deadline, `no mail to ${to} reached the SMTP server`);
    await page.waitForTimeout(100);
  }
}

/** Sign up with mandatory verification: the mail, the link, the click, the login. */
async function signupScenario(ctx, t) {
  const b = await launch();
  try {
    await step(ctx, "sign up: the confirmation mail's link verifies the address, then the new account signs in", async () => {
      const p = await b.context.newPage();
      const name = `newbie-${t.name}`;
      const email = `${name}@example.com`;
      await p.goto(t.spa);
      await p.waitForSelector('[data-testid="login-form"]');
      await p.click("text=Create an account");
      await p.fill("#signup-username", name);
      await p.fill("#signup-email", email);
      await p.fill("#signup-password", "12345678");
      await p.click('[data-testid="signup-form"] button[type="submit"]');
      const problems = await (await p.waitForSelector('[data-testid="signup-problems"]')).textContent();
      assert(problems.includes("too common"), problems);
      const since = t.smtp.messages.length;
      await p.fill("#signup-password", NEW_PASSWORD);
      await p.click('[data-testid="signup-form"] button[type="submit"]');
      await p.waitForSelector('[data-testid="signup-check-mail"]');
      // Before confirming, the right password is refused with an explanation.
      await uiLogin(p, t.spa, NEW_PASSWORD, name);
      const refused = await (await p.waitForSelector('[data-testid="login-error"]')).textContent();
      assert(refused.includes("confirm your email address"), refused);
      const body = await nextMail(t, email, since, p);
      const link = body.match(/(http\S+\/verify-email\?key=[A-Za-z0-9]{32})/)?.[1];
      assert(link && link.startsWith(new URL(t.spa).origin), `link ${link}`);
      await p.goto(link);
      await p.click("text=Confirm my address");
      await p.waitForSelector('[data-testid="email-verified"]');
      await uiLogin(p, t.spa, NEW_PASSWORD, name);
      assert((await signedInAs(p)) === name, "the new account is signed in");
      await p.click('[data-testid="nav-account"]');
      const shown = await (await p.waitForSelector('[data-testid="account-email"]')).textContent();
      assert(shown.includes(email) && shown.includes("Confirmed"), shown);
    });
  } finally {
    await b.context.close();
    fs.rmSync(b.profile, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the admin

/** Answers the password prompt of a sensitive admin action if it appears. */
async function reauthIfAsked(page, done) {
  const which = await page.waitForSelector(`[data-testid="reauth-dialog"], ${done}`);
  if ((await which.getAttribute("data-testid")) === "reauth-dialog") {
    await page.fill("#reauth-password", PASSWORD);
    await page.click('[data-testid="reauth-dialog"] button[type="submit"]');
    await page.waitForSelector(done);
  }
}

async function adminSignIn(page, admin, username, password) {
  const res = await page.goto(admin);
  await page.waitForSelector('[data-testid="admin-login"]');
  await page.fill("#admin-username", username);
  await page.fill("#admin-password", password);
  await page.click('[data-testid="admin-login"] button[type="submit"]');
  return res;
}

/**
 * The admin at /admin/, served by latchkey itself (behind nginx's /admin
 * rule, or on the API's origin cross-origin): a staff user adds a user,
 * finds them by search and deactivates them, which signs their open browser
 * out; a non-staff user gets "Not allowed" and no data; foreign pages cannot
 * drive an admin action.
 */
async function adminScenario(ctx, t) {
  const staff = await launch();
  const victim = await launch();
  const VICTIM = `victim-${t.name}`;
  const VICTIM_PASSWORD = "victim's own passphrase 5";
  try {
    const page = await staff.context.newPage();
    const consoleErrors = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));

    await step(ctx, "admin: /admin/ asks for a sign-in, under the strict CSP", async () => {
      const res = await adminSignIn(page, t.admin, USER, "wrong password");
      const csp = res.headers()["content-security-policy"] ?? "";
      assert(csp.includes("default-src 'self'") && csp.includes("script-src 'self'") && !csp.includes("unsafe"), csp);
      const err = await (await page.waitForSelector('[data-testid="admin-login-error"]')).textContent();
      assert(err === "Wrong username or password.", err);
      await page.fill("#admin-password", PASSWORD);
      await page.click('[data-testid="admin-login"] button[type="submit"]');
      await page.waitForSelector('[data-testid="users-table"]');
      assert(new URL(page.url()).pathname === "/admin/users", page.url());
    });

    await step(ctx, "admin: a staff user adds a user (the validators apply)", async () => {
      await page.click("text=Add a user");
      await page.fill("#new-username", VICTIM);
      await page.fill("#new-email", `${VICTIM}@example.com`);
      await page.fill("#new-user-password", "12345678");
      await page.click('[data-testid="add-user"] button[type="submit"]');
      await reauthIfAsked(page, '[data-testid="add-user"] .alert-danger');
      const refused = await page.textContent('[data-testid="add-user"] .alert-danger');
      assert(refused.includes("too common"), refused);
      await page.fill("#new-user-password", VICTIM_PASSWORD);
      await page.click('[data-testid="add-user"] button[type="submit"]');
      await reauthIfAsked(page, '[data-testid="user-title"]');
      assert((await page.textContent('[data-testid="user-title"]')) === VICTIM, "the new user's page");
    });

    const other = await victim.context.newPage();
    await step(ctx, "admin: the new user signs in to the site; a non-staff user sees 'Not allowed' and no data", async () => {
      await uiLogin(other, t.spa, VICTIM_PASSWORD, VICTIM);
      assert((await signedInAs(other)) === VICTIM, "the new user signed in (an operator's address counts as confirmed)");
      const adminPage = await victim.context.newPage();
      await adminPage.goto(t.admin);
      await adminPage.waitForSelector('[data-testid="not-allowed"]');
      const api = new URL(t.admin).origin;
      const r = await adminPage.evaluate(async (u) => {
        const res = await fetch(u, { credentials: "same-origin" });
        return { status: res.status, body: await res.json() };
      }, `${api}/api/admin/users/`);
      assert(r.status === 403 && r.body.code === "permission_denied", JSON.stringify(r));
      await adminPage.close();
    });

    await step(ctx, "admin: a staff user finds the user by search and deactivates them; their browser is signed out", async () => {
      await page.click("text=Users");
      await page.fill("#user-search", VICTIM.toUpperCase().slice(0, 10));
      await page.press("#user-search", "Enter");
      await page.waitForFunction(
        (name) => {
          const rows = [...document.querySelectorAll('[data-testid="user-row"]')];
          return rows.length === 1 && rows[0].textContent.includes(name);
        },
        VICTIM,
      );
      assert(new URL(page.url()).searchParams.get("search") === VICTIM.toUpperCase().slice(0, 10), "the search is in the URL");
      await page.check(`[aria-label="Select ${VICTIM}"]`);
      await page.click("text=Deactivate selected");
      await page.waitForSelector('[data-testid="confirm-dialog"]');
      assert((await page.textContent('[data-testid="confirm-dialog"]')).includes(VICTIM), "the dialog names the user");
      await page.click('[data-testid="confirm-dialog"] .btn-danger');
      await reauthIfAsked(page, '[data-testid="users-notice"]');
      const notice = await page.textContent('[data-testid="users-notice"]');
      assert(notice === "Deactivated 1 user.", notice);
      await other.reload();
      assert((await signedInAs(other)) === null, "the deactivated user's browser is signed out");
      await uiLogin(other, t.spa, VICTIM_PASSWORD, VICTIM);
      assert((await signedInAs(other)) === null, "and cannot sign in again");
    });

    await step(ctx, "admin: the user's page shows the deactivation in their events, by whom", async () => {
      await page.click(`text=${VICTIM}`);
      await page.waitForSelector('[data-testid="user-events"]');
      const events = await page.textContent('[data-testid="user-events"]');
      assert(events.includes("user_deactivated") && events.includes(`by ${USER}`), events);
      assert(!(await page.isChecked("#flag-isActive")), "the Active switch is off");
    });

    for (const [where, origin] of [
      ["cross-site page", t.crossSite],
      ["same-site page on another port", t.sameSite],
    ]) {
      await step(ctx, `admin: a ${where} cannot drive an admin action`, async () => {
        const attack = await staff.context.newPage();
        try {
          for (const file of ["/admin-form.html", "/admin-fetch.html"]) {
            await attack.goto(origin + file);
            await attack.waitForLoadState("load");
            if (file.endsWith("fetch.html")) {
              await attack.waitForFunction(() => document.body.dataset.result, null, { timeout: 10000 });
              const r = JSON.parse(await attack.evaluate(() => document.body.dataset.result));
              for (const [k, v] of Object.entries(r)) assert(!v.startsWith("read:2"), `${k} succeeded: ${v}`);
            } else {
              await attack.waitForTimeout(300);
            }
          }
        } finally {
          await attack.close();
        }
        const users = await page.evaluate(async () => {
          const res = await fetch("/api/admin/users/?search=pwned");
          return (await res.json()).count;
        });
        assert(users === 0, "a foreign page created a user");
        const demo = await page.evaluate(async () => (await (await fetch("/api/admin/users/?search=demo")).json()).results[0]);
        assert(demo.isActive && demo.firstName === "", `a foreign page changed a user: ${JSON.stringify(demo)}`);
      });
    }

    if (process.env.E2E_ADMIN_SCREENSHOT && t.name === "same-origin") {
      await page.setViewportSize({ width: 1280, height: 720 });
      await page.goto(t.admin + "users");
      await page.waitForSelector('[data-testid="user-row"]');
      await page.screenshot({ path: process.env.E2E_ADMIN_SCREENSHOT });
    }

    await step(ctx, "admin: the pages ran without console errors", async () => {
      const real = consoleErrors.filter((e) => !/status of 40[03]/.test(e));
      assert(real.length === 0, real.join("\n"));
    });
  } finally {
    await staff.context.close();
    await victim.context.close();
    fs.rmSync(staff.profile, { recursive: true, force: true });
    fs.rmSync(victim.profile, { recursive: true, force: true });
  }
}

// ------------------------------------------------------ the second factor

/** RFC 6238 in the test: the code of `secretB32` for the step of `ms` (+ `steps`). */
function totpCode(secretB32, ms, steps = 0) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secretB32.replace(/\s+/g, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 1000 / 30) + steps));
  const h = crypto.createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, "0");
}

/**
 * deploy/nginx/forward-auth.conf in a real nginx: an upstream with no login
 * of its own is guarded by latchkey (auth_request to /api/auth/verify/). An
 * anonymous browser is sent to sign in and comes back; the upstream gets the
 * user from headers nginx sets (a client's forged ones are replaced) and no
 * cookie; /staff/ needs staff; after logout the guard closes again; the
 * return path never leaves the site.
 */
async function forwardAuthScenario(ctx, t) {
  const b = await launch();
  try {
    const p = await b.context.newPage();
    const base = t.forwardAuth;
    const signIn = async (username, password) => {
      await p.fill("#username", username);
      await p.fill("#password", password);
      await p.click('[data-testid="login-form"] button[type="submit"]');
    };

    await step(ctx, "forward auth: a guarded page sends an anonymous browser to sign in, and back to it after", async () => {
      const res = await p.goto(`${base}/private/report?x=1&y=2`);
      assert(res.ok(), `the sign-in page answered ${res.status()}`);
      await p.waitForSelector('[data-testid="login-form"]');
      const u = new URL(p.url());
      assert(u.pathname === "/" && u.search === "?next=/private/report?x=1&y=2", `sent to ${p.url()}`);
      assert((await p.textContent('[data-testid="return-notice"]')).includes("/private/report?x=1&y=2"), "says where it returns");
      await signIn(USER, PASSWORD);
      await p.waitForSelector('[data-testid="protected"]');
      assert((await p.textContent('[data-testid="protected"]')) === `Hello ${USER}`, await p.textContent("body"));
      assert((await p.textContent("#path")) === "/private/report?x=1&y=2", await p.textContent("#path"));
      assert((await p.textContent("#cookie")) === "no cookie", "the upstream gets no session cookie");
      assert((await p.textContent("#groups")).includes("staff"), await p.textContent("#groups"));
    });

    await step(ctx, "forward auth: headers a client forges are replaced; /staff/ needs staff", async () => {
      const forged = await b.context.newPage();
      await forged.setExtraHTTPHeaders({ "X-Auth-Request-User": ATTACKER, "X-Auth-Request-Groups": "staff,superuser" });
      await forged.goto(`${base}/private/`);
      assert((await forged.textContent('[data-testid="protected"]')) === `Hello ${USER}`, "nginx's value, not the client's");
      assert((await (await forged.goto(`${base}/staff/`)).status()) === 200, "a staff user passes /staff/");
      await forged.close();
      const other = await launch();
      try {
        const m = await other.context.newPage();
        await m.setExtraHTTPHeaders({ "X-Auth-Request-User": USER });
        await m.goto(`${base}/private/`);
        await m.waitForSelector('[data-testid="login-form"]');
        await m.fill("#username", ATTACKER);
        await m.fill("#password", ATTACKER_PASSWORD);
        await m.click('[data-testid="login-form"] button[type="submit"]');
        await m.waitForSelector('[data-testid="protected"]');
        assert((await m.textContent('[data-testid="protected"]')) === `Hello ${ATTACKER}`, "the forged header did not pass");
        const staff = await m.goto(`${base}/staff/`);
        assert(staff.status() === 403, `a user who is not staff gets ${staff.status()}`);
      } finally {
        await other.context.close();
        fs.rmSync(other.profile, { recursive: true, force: true });
      }
    });

    await step(ctx, "forward auth: after logging out the guarded page sends the browser to sign in again", async () => {
      await p.goto(`${base}/`);
      await p.waitForSelector('[data-testid="greeting"]');
      await p.click("text=Log out");
      await p.waitForSelector('[data-testid="login-form"]');
      await p.goto(`${base}/private/`);
      await p.waitForSelector('[data-testid="login-form"]');
      assert(new URL(p.url()).search === "?next=/private/", p.url());
    });

    await step(ctx, "forward auth: the return path cannot send anyone off the site", async () => {
      for (const next of ["//evil.example/", "/\\evil.example/", "https://evil.example/"]) {
        await p.goto(`${base}/?next=${next}`);
        await p.waitForSelector('[data-testid="login-form"], [data-testid="greeting"]');
        assert(!(await p.$('[data-testid="return-notice"]')), `${next} is not offered as a return path`);
      }
      await signIn(USER, PASSWORD);
      await p.waitForSelector('[data-testid="greeting"]');
      assert(new URL(p.url()).origin === base, `still on the site: ${p.url()}`);
    });
  } finally {
    await b.context.close();
    fs.rmSync(b.profile, { recursive: true, force: true });
  }
}

/**
 * Passkeys in the SPA with Chromium's virtual authenticator (DevTools
 * protocol: an internal platform authenticator that keeps discoverable
 * credentials and verifies the user): one is added on the Account page, it
 * signs in with no username or password, it proves the second step after a
 * password, and once removed it signs nobody in.
 */
async function passkeyScenario(ctx, t) {
  const b = await launch();
  try {
    const p = await b.context.newPage();
    const cdp = await b.context.newCDPSession(p);
    await cdp.send("WebAuthn.enable");
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
    const toSignIn = async () => {
      await p.goto(t.spa);
      const form = await p.waitForSelector(
        '[data-testid="login-form"], [data-testid="greeting"], [data-testid="login-form-second-factor"]',
      );
      const shown = await form.getAttribute("data-testid");
      if (shown === "greeting") {
        await p.click("text=Log out");
        await p.waitForSelector('[data-testid="login-form"]');
      }
      // A sign-in still waiting for its second step (a refused code leaves it
      // pending) is what a reload shows; start over with the password.
      if (shown === "login-form-second-factor") {
        await p.click("text=Start over");
        await p.waitForSelector('[data-testid="login-form"]');
      }
    };

    await step(ctx, "passkeys: one is added on the Account page (named, listed, with recovery codes as the first factor)", async () => {
      await uiLogin(p, t.spa, PASSKEY_PASSWORD, PASSKEY_USER);
      assert((await signedInAs(p)) === PASSKEY_USER, "signed in");
      await p.goto(new URL("/account", t.spa).href);
      await p.click("text=Add a passkey");
      await p.fill("#passkey-name", "E2E laptop");
      await p.click('[data-testid="passkey-add"] button[type="submit"]');
      const which = await p.waitForSelector('[data-testid="reauth-dialog"], [data-testid="recovery-codes"]');
      if ((await which.getAttribute("data-testid")) === "reauth-dialog") {
        await p.fill("#reauth-password", PASSKEY_PASSWORD);
        await p.click('[data-testid="reauth-dialog"] button[type="submit"]');
        await p.waitForSelector('[data-testid="recovery-codes"]');
      }
      const codes = await p.$$eval('[data-testid="recovery-codes"] li', (li) => li.length);
      assert(codes === 10, `${codes} recovery codes`);
      await p.click("text=I have saved them");
      await p.waitForFunction(() => document.querySelector('[data-testid="passkey-name"]')?.textContent === "E2E laptop");
      const creds = await credentials();
      assert(creds.length === 1 && creds[0].isResidentCredential, `a discoverable credential: ${JSON.stringify(creds)}`);
      assert(creds[0].rpId === "localhost", `RP id ${creds[0].rpId}`);
    });

    await step(ctx, "passkeys: after logging out, 'Sign in with a passkey' signs in with no username or password", async () => {
      await toSignIn();
      const before = (await credentials())[0].signCount;
      await p.click('[data-testid="login-form-passkey"]');
      await p.waitForSelector('[data-testid="greeting"]');
      assert((await signedInAs(p)) === PASSKEY_USER, "signed in by the passkey");
      const after = (await credentials())[0].signCount;
      assert(after > before, `the authenticator signed once more (${before} → ${after})`);
    });

    await step(ctx, "passkeys: after a password the passkey proves the second step", async () => {
      await toSignIn();
      await p.fill("#username", PASSKEY_USER);
      await p.fill("#password", PASSKEY_PASSWORD);
      await p.click('[data-testid="login-form"] button[type="submit"]');
      await p.waitForSelector('[data-testid="login-form-second-factor"]');
      assert(!(await p.$('[data-testid="greeting"]')), "the password alone did not sign in");
      await p.click('[data-testid="login-form-use-passkey"]');
      await p.waitForSelector('[data-testid="greeting"]');
      assert((await signedInAs(p)) === PASSKEY_USER, "signed in with password and passkey");
    });

    await step(ctx, "passkeys: renamed, then removed on the Account page; the removed one signs nobody in", async () => {
      await p.goto(new URL("/account", t.spa).href);
      await p.click('button[aria-label="Rename E2E laptop"]');
      await p.fill('[data-testid="passkey"] input', "Old laptop");
      await p.click('[data-testid="passkey"] button[type="submit"]');
      await p.waitForFunction(() => document.querySelector('[data-testid="passkey-name"]')?.textContent === "Old laptop");
      await p.click('button[aria-label="Remove Old laptop"]');
      await p.click("text=Yes, remove it");
      const which = await p.waitForSelector('[data-testid="reauth-dialog"], [data-testid="mfa-notice"]');
      if ((await which.getAttribute("data-testid")) === "reauth-dialog") {
        await p.fill("#reauth-password", PASSKEY_PASSWORD);
        await p.click('[data-testid="reauth-dialog"] button[type="submit"]');
        await p.waitForSelector('[data-testid="mfa-notice"]');
      }
      assert(!(await p.$('[data-testid="passkey"]')), "no passkey listed");
      await toSignIn();
      await p.click('[data-testid="login-form-passkey"]');
      const err = await p.waitForSelector('[data-testid="login-error"]');
      assert((await err.textContent()).includes("could not be verified"), await err.textContent());
      assert(!(await p.$('[data-testid="greeting"]')), "not signed in");
      await uiLogin(p, t.spa, PASSKEY_PASSWORD, PASSKEY_USER);
      assert((await signedInAs(p)) === PASSKEY_USER, "the password alone signs in again");
    });

    if (t.mfaRequired) {
      await step(ctx, "passkeys: with mfa.required_for_staff a staff user is sent to set one up, in the site and the admin, then gets in", async () => {
        // Cookies do not tell ports apart: sign the passkey user out first.
        await toSignIn();
        const admin = await b.context.newPage();
        await adminSignIn(admin, t.mfaRequired.admin, STAFF_MFA_USER, PASSKEY_PASSWORD);
        await admin.waitForSelector('[data-testid="mfa-setup-required"]');
        assert(!(await admin.$('[data-testid="users-table"]')), "no admin data before a factor");
        // WebAuthn prompts only in the focused page.
        await p.bringToFront();
        await p.goto(t.mfaRequired.spa);
        await p.waitForSelector('[data-testid="mfa-setup-required"]');
        assert(!(await p.$('[data-testid="greeting"]')), "nothing else before a factor");
        await p.click("text=Add a passkey");
        await p.fill("#passkey-name", "Staff key");
        await p.click('[data-testid="passkey-add"] button[type="submit"]');
        const which = await p.waitForSelector('[data-testid="reauth-dialog"], [data-testid="greeting"], [data-testid="mfa-error"]');
        if ((await which.getAttribute("data-testid")) === "reauth-dialog") {
          await p.fill("#reauth-password", PASSKEY_PASSWORD);
          await p.click('[data-testid="reauth-dialog"] button[type="submit"]');
        }
        const done = await p.waitForSelector('[data-testid="greeting"], [data-testid="mfa-error"]');
        assert((await done.getAttribute("data-testid")) === "greeting", `no error: ${await done.textContent()}`);
        assert((await signedInAs(p)) === STAFF_MFA_USER, "in, once a passkey is set up");
        await admin.reload();
        await admin.waitForSelector('[data-testid="users-table"]');
        await admin.close();
      });
    }
  } finally {
    await b.context.close();
    fs.rmSync(b.profile, { recursive: true, force: true });
  }
}

/**
 * Two-step sign-in in the SPA: set up an authenticator app on the Account
 * page (the QR code, the key, a code computed here from the key), the
 * recovery codes shown once; then a sign-in asks for a code after the
 * password, a wrong one is refused, a right one signs in; a recovery code
 * works once.
 */
async function mfaScenario(ctx, t) {
  const b = await launch();
  try {
    const p = await b.context.newPage();
    let secret = "";
    let recovery = [];
    await step(ctx, "two-step sign-in: set up an authenticator app on the Account page; recovery codes shown once", async () => {
      await uiLogin(p, t.spa, MFA_PASSWORD, MFA_USER);
      assert((await signedInAs(p)) === MFA_USER, "signed in");
      await p.goto(new URL("/account", t.spa).href);
      await p.click("text=Set up an authenticator app");
      const which = await p.waitForSelector('[data-testid="reauth-dialog"], [data-testid="totp-setup"]');
      if ((await which.getAttribute("data-testid")) === "reauth-dialog") {
        await p.fill("#reauth-password", MFA_PASSWORD);
        await p.click('[data-testid="reauth-dialog"] button[type="submit"]');
        await p.waitForSelector('[data-testid="totp-setup"]');
      }
      const qr = await p.$eval('[data-testid="totp-setup"] img', (img) => ({ w: img.naturalWidth, alt: img.alt }));
      assert(qr.w > 0 && qr.alt.includes("QR code"), `the QR code renders: ${JSON.stringify(qr)}`);
      secret = (await p.textContent('[data-testid="totp-secret"]')).replace(/\s+/g, "");
      assert(/^[A-Z2-7]{32}$/.test(secret), `key ${secret}`);
      await p.fill("#totp-code", totpCode(secret, Date.now()));
      await p.click('[data-testid="totp-setup"] button[type="submit"]');
      await p.waitForSelector('[data-testid="recovery-codes"]');
      recovery = await p.$$eval('[data-testid="recovery-codes"] li', (li) => li.map((x) => x.textContent));
      assert(recovery.length === 10 && recovery.every((c) => /^[a-z2-9]{5}-[a-z2-9]{5}$/.test(c)), recovery.join(","));
      await p.click("text=I have saved them");
      await p.waitForSelector('[data-testid="totp-enabled"]');
    });

    const signInWith = async (code) => {
      await p.goto(t.spa);
      const form = await p.waitForSelector(
        '[data-testid="login-form"], [data-testid="greeting"], [data-testid="login-form-second-factor"]',
      );
      const shown = await form.getAttribute("data-testid");
      if (shown === "greeting") {
        await p.click("text=Log out");
        await p.waitForSelector('[data-testid="login-form"]');
      }
      // A sign-in still waiting for its second step (a refused code leaves it
      // pending) is what a reload shows; start over with the password.
      if (shown === "login-form-second-factor") {
        await p.click("text=Start over");
        await p.waitForSelector('[data-testid="login-form"]');
      }
      await p.fill("#username", MFA_USER);
      await p.fill("#password", MFA_PASSWORD);
      await p.click('button[type="submit"]');
      await p.waitForSelector('[data-testid="login-form-second-factor"]');
      await p.fill("#code", code);
      await p.click('[data-testid="login-form-second-factor"] button[type="submit"]');
      return p.waitForSelector('[data-testid="greeting"], [data-testid="login-error"]');
    };

    await step(ctx, "two-step sign-in: after the password a code is asked for; a wrong one is refused, the app's signs in", async () => {
      const refused = await signInWith("000000" === totpCode(secret, Date.now()) ? "111111" : "000000");
      assert((await refused.getAttribute("data-testid")) === "login-error", "a wrong code is refused");
      assert((await refused.textContent()).includes("not valid"), await refused.textContent());
      // The activation used this step's code: the next step's (one step of skew) is fresh.
      await p.fill("#code", totpCode(secret, Date.now(), 1));
      await p.click('[data-testid="login-form-second-factor"] button[type="submit"]');
      await p.waitForSelector('[data-testid="greeting"]');
      assert((await signedInAs(p)) === MFA_USER, "signed in with password and code");
    });

    await step(ctx, "two-step sign-in: a recovery code signs in once", async () => {
      const ok = await signInWith(recovery[0].toUpperCase());
      assert((await ok.getAttribute("data-testid")) === "greeting", "the recovery code signed in");
      const again = await signInWith(recovery[0]);
      assert((await again.getAttribute("data-testid")) === "login-error", "the same code a second time is refused");
    });

    await step(ctx, "two-step sign-in: a staff user resets a lost device in the admin; the user is signed out, then signs in with the password alone", async () => {
      const ok = await signInWith(recovery[1]);
      assert((await ok.getAttribute("data-testid")) === "greeting", "signed in");
      const s = await launch();
      try {
        const admin = await s.context.newPage();
        await adminSignIn(admin, t.admin, USER, PASSWORD);
        await admin.waitForSelector('[data-testid="users-table"]');
        await admin.fill("#user-search", MFA_USER);
        await admin.press("#user-search", "Enter");
        await admin.waitForFunction((n) => document.querySelectorAll('[data-testid="user-row"]').length === 1 && document.body.textContent.includes(n), MFA_USER);
        await admin.click(`text=${MFA_USER}`);
        const factors = await (await admin.waitForSelector('[data-testid="user-factors"]')).textContent();
        assert(factors.includes("authenticator app") && factors.includes("8 recovery codes left"), factors);
        await admin.click("text=Reset second factors");
        await admin.click('[data-testid="confirm-dialog"] .btn-danger');
        await reauthIfAsked(admin, '[data-testid="user-notice"]');
        const notice = await admin.textContent('[data-testid="user-notice"]');
        assert(notice.includes("second factors are removed"), notice);
      } finally {
        await s.context.close();
        fs.rmSync(s.profile, { recursive: true, force: true });
      }
      await p.reload();
      assert((await signedInAs(p)) === null, "the user's session ended");
      await uiLogin(p, t.spa, MFA_PASSWORD, MFA_USER);
      assert((await signedInAs(p)) === MFA_USER, "the password alone signs in again");
    });
  } finally {
    await b.context.close();
    fs.rmSync(b.profile, { recursive: true, force: true });
  }
}

/**
 * The test OpenID Connect provider (oidc-provider.mjs) on 127.0.0.1 (another
 * site than the SPA's localhost, so the redirect back is cross-site), and a
 * config file that makes it latchkey's provider `corp`.
 */
async function oidcProvider(publicUrl) {
  const child = start("oidc-provider", "node", [
    path.join(ROOT, "e2e/oidc-provider.mjs"),
    "--redirect-uri",
    `${publicUrl}/api/oidc/corp/callback/`,
  ], { stdio: ["pipe", "pipe", "pipe"] });
  const issuer = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("the OpenID Connect provider did not start")), 15000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /ready (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const config = path.join(ART, `oidc-${new URL(publicUrl).port}.toml`);
  fs.writeFileSync(
    config,
    [
      `public_url = "${publicUrl}"`,
      "[[oidc.providers]]",
      'id = "corp"',
      'name = "Corp SSO"',
      `issuer = "${issuer}"`,
      'client_id = "latchkey"',
      'client_secret = "latchkey-secret"',
      "",
    ].join("\n"),
  );
  return { issuer, config };
}

/** Sign-in with the provider's button in Chromium: cancel, sign in, the Account page, log out. */
async function oidcScenario(t) {
  const { context, profile } = await launch();
  const page = await context.newPage();
  const ctx = new Step(t.name);
  ctx.page = page;
  try {
    await step(ctx, "OpenID Connect: the sign-in page offers the provider's button", async () => {
      await page.goto(t.spa);
      const button = await page.waitForSelector('[data-testid="login-form-oidc-corp"]');
      const text = (await button.textContent()).trim();
      assert(text === "Sign in with Corp SSO", `button text: ${text}`);
    });

    await step(ctx, "OpenID Connect: cancelling at the provider is explained on the sign-in page", async () => {
      await page.click('[data-testid="login-form-oidc-corp"]');
      await page.waitForSelector('input[name="login"]', { timeout: 15000 });
      assert(page.url().startsWith(t.oidc.issuer), `at the provider: ${page.url()}`);
      await page.click("text=[ Cancel ]");
      const err = await page.waitForSelector('[data-testid="oidc-error"]', { timeout: 15000 });
      const text = await err.textContent();
      assert(text.includes("cancelled"), `error: ${text}`);
      assert(!page.url().includes("loginError"), `the code left the address bar: ${page.url()}`);
      assert((await page.$('[data-testid="greeting"]')) === null, "nobody signed in");
    });

    await step(ctx, "OpenID Connect: signing in at the provider lands signed in on the SPA", async () => {
      await page.click('[data-testid="login-form-oidc-corp"]');
      await page.waitForSelector('input[name="login"]', { timeout: 15000 });
      await page.fill('input[name="login"]', OIDC_LOGIN);
      await page.fill('input[name="password"]', "any password works here");
      await page.click('button[type="submit"]');
      // The consent screen, the first time.
      const next = await page.waitForSelector('button:has-text("Continue"), [data-testid="greeting"]', { timeout: 15000 });
      if ((await next.getAttribute("data-testid")) !== "greeting") await next.click();
      await page.waitForSelector('[data-testid="greeting"]', { timeout: 15000 });
      assert((await signedInAs(page)) === OIDC_LOGIN, "greeting names the provider's user");
      assert(page.url().startsWith(t.spa), `landed on the SPA: ${page.url()}`);
      const cookies = await context.cookies();
      assert(!cookies.some((c) => c.name === "latchkey_oidc"), "the flow cookie is gone");
    });

    await step(ctx, "OpenID Connect: the Account page lists the linked provider", async () => {
      await openAccount(page, t.spa);
      const row = await page.waitForSelector('[data-testid="linked-identity"]');
      const text = await row.textContent();
      assert(text.includes("Corp SSO") && text.includes(`${OIDC_LOGIN}@example.com`), `row: ${text}`);
    });

    await step(ctx, "OpenID Connect: logging out returns to the sign-in form, and the button signs in again", async () => {
      await page.goto(t.spa);
      await page.waitForSelector('[data-testid="greeting"]');
      await page.click('button:has-text("Log out")');
      await page.waitForSelector('[data-testid="login-form"]');
      await page.click('[data-testid="login-form-oidc-corp"]');
      // The provider remembers the browser: straight back, signed in.
      const at = await page.waitForSelector('input[name="login"], [data-testid="greeting"], button:has-text("Continue")', { timeout: 15000 });
      if ((await at.getAttribute("name")) === "login") {
        await page.fill('input[name="login"]', OIDC_LOGIN);
        await page.fill('input[name="password"]', "any password works here");
        await page.click('button[type="submit"]');
      }
      await page.waitForSelector('[data-testid="greeting"]', { timeout: 15000 });
      assert((await signedInAs(page)) === OIDC_LOGIN, "signed in again as the same user");
    });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "latchkey-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context.setDefaultTimeout(10000);
  return { context, profile };
}

/**
 * The scenario every topology runs.
 * spa: the SPA URL; api: the API origin as the browser sees it;
 * crossSite / sameSite: attacker origins; embedded: whether csrftoken may be readable.
 */
async function scenario(t) {
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

// -------------------------------------------------------------- topologies

function latchkeyEnv(db) {
  return {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LATCHKEY_"))),
    LATCHKEY_DATABASE_URL: `sqlite://${db}`,
    LATCHKEY_PASSWORD_HASHER__MEMORY_KIB: "1024",
    LATCHKEY_PASSWORD_HASHER__ITERATIONS: "1",
    LATCHKEY_AUTH__REAUTHENTICATION_WINDOW: String(REAUTH_WINDOW_S),
    RUST_LOG: "info",
  };
}

/** Mail through a real SMTP sink; links in mails point at `frontend`. */
async function withMail(env, frontend) {
  const smtp = await smtpSink();
  Object.assign(env, {
    LATCHKEY_EMAIL__BACKEND: "smtp",
    LATCHKEY_EMAIL__SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
    LATCHKEY_EMAIL__RETRY_DELAY: "1",
    LATCHKEY_ACCOUNTS__FRONTEND_URL: frontend,
    LATCHKEY_ACCOUNTS__SIGNUP: "open",
    LATCHKEY_ACCOUNTS__EMAIL_VERIFICATION: "mandatory",
  });
  return smtp;
}

function prepareDatabase(name) {
  const db = path.join(ART, `${name}.sqlite3`);
  const env = latchkeyEnv(db);
  run(BIN, ["migrate"], { env });
  run(BIN, ["createsuperuser", "--username", USER, "--email", "demo@example.com", "--no-input"], {
    env: { ...env, LATCHKEY_PASSWORD: PASSWORD },
  });
  run(BIN, ["createsuperuser", "--username", ATTACKER, "--no-input"], { env: { ...env, LATCHKEY_PASSWORD: ATTACKER_PASSWORD } });
  // The attacker has an ordinary account.
  run(BIN, ["users", "set", ATTACKER, "--no-superuser", "--no-staff"], { env });
  // So has the user who sets up two-step sign-in.
  run(BIN, ["createsuperuser", "--username", MFA_USER, "--no-input"], { env: { ...env, LATCHKEY_PASSWORD: MFA_PASSWORD } });
  run(BIN, ["users", "set", MFA_USER, "--no-superuser", "--no-staff"], { env });
  // And the one who registers a passkey.
  run(BIN, ["createsuperuser", "--username", PASSKEY_USER, "--no-input"], { env: { ...env, LATCHKEY_PASSWORD: PASSKEY_PASSWORD } });
  run(BIN, ["users", "set", PASSKEY_USER, "--no-superuser", "--no-staff"], { env });
  return env;
}

function buildSpa(mode, outDir, env = {}) {
  run("npx", ["vite", "build", "--mode", mode, "--outDir", outDir, "--emptyOutDir"], {
    cwd: path.join(ROOT, "frontend"),
    env: { ...process.env, ...env },
  });
  return outDir;
}

function withTutorial(dir, api, mode) {
  fs.writeFileSync(path.join(dir, "tutorial.html"), tutorialPage(api, mode));
  fs.writeFileSync(path.join(dir, "tutorial.js"), TUTORIAL_JS);
  return dir;
}

async function attackers(apiOrigin) {
  const [pc, ps] = [await freePort(), await freePort()];
  const pages = attackPages(apiOrigin);
  const servers = [await staticServer(pc, null, pages), await staticServer(ps, null, pages)];
  return { servers, crossSite: `http://127.0.0.1:${pc}`, sameSite: `http://localhost:${ps}` };
}

function nginxConf(listen, backend, frontend, file = "nginx.conf") {
  const template = fs.readFileSync(path.join(ROOT, "deploy/nginx", file), "utf8");
  const conf = template.replaceAll("${LISTEN}", listen).replaceAll("${BACKEND}", backend).replaceAll("${FRONTEND}", frontend);
  const dir = fs.mkdtempSync(path.join(ART, "nginx-"));
  fs.mkdirSync(path.join(dir, "logs"));
  fs.writeFileSync(path.join(dir, "nginx.conf"), conf);
  return dir;
}

async function startNginx(dir) {
  const args = ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-g", `daemon off; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log;`];
  run("nginx", ["-t", ...args]);
  return start("nginx", "nginx", args);
}

const topologies = {
  async embedded() {
    const env = prepareDatabase("embedded");
    const [api, tut] = [await freePort(), await freePort()];
    const smtp = await withMail(env, `http://localhost:${api}`);
    const oidc = await oidcProvider(`http://localhost:${api}`);
    start("latchkey-embedded", BIN, ["serve", "--preset", "embedded", "--bind", `127.0.0.1:${api}`, "--config", oidc.config], { env });
    // The tutorial's page is served by a second instance from a folder (--spa-dir), same database.
    const tutDir = withTutorial(fs.mkdtempSync(path.join(ART, "tutorial-embedded-")), "", "cookie");
    fs.copyFileSync(path.join(tutDir, "tutorial.html"), path.join(tutDir, "index.html"));
    start("latchkey-embedded-spa-dir", BIN, ["serve", "--preset", "embedded", "--bind", `127.0.0.1:${tut}`, "--spa-dir", tutDir], { env });
    // Another server, with its own database whose only (staff) superuser
    // has no second factor, requires one of staff.
    const strict = await freePort();
    const strictEnv = { ...latchkeyEnv(path.join(ART, "embedded-mfa-required.sqlite3")), LATCHKEY_MFA__REQUIRED_FOR_STAFF: "true" };
    run(BIN, ["migrate"], { env: strictEnv });
    run(BIN, ["createsuperuser", "--username", STAFF_MFA_USER, "--no-input"], { env: { ...strictEnv, LATCHKEY_PASSWORD: PASSKEY_PASSWORD } });
    start("latchkey-embedded-mfa-required", BIN, ["serve", "--preset", "embedded", "--bind", `127.0.0.1:${strict}`], { env: strictEnv });
    await waitFor(`http://127.0.0.1:${api}/api/session/`);
    await waitFor(`http://127.0.0.1:${tut}/api/session/`);
    await waitFor(`http://127.0.0.1:${strict}/api/session/`);
    const a = await attackers(`http://localhost:${api}`);
    const index = await fetch(`http://127.0.0.1:${api}/`);
    assert(index.headers.get("content-security-policy")?.includes("default-src 'self'"), "embedded SPA has a CSP");
    assert((await index.text()).includes('id="root"'), "the binary embeds the built SPA (build frontend/ before cargo)");
    return {
      name: "embedded",
      spa: `http://localhost:${api}/`,
      admin: `http://localhost:${api}/admin/`,
      tutorial: `http://localhost:${tut}/tutorial.html`,
      mfaRequired: { spa: `http://localhost:${strict}/`, admin: `http://localhost:${strict}/admin/` },
      embedded: true,
      oidc,
      smtp,
      env,
      ...a,
      servers: [...a.servers, smtp],
    };
  },

  async "same-origin"() {
    const env = prepareDatabase("same-origin");
    const [api, front, proxy] = [await freePort(), await freePort(), await freePort()];
    const smtp = await withMail(env, `http://localhost:${proxy}`);
    // Behind nginx, trusting its X-Forwarded-* headers (the first documented way).
    start("latchkey-same-origin", BIN, ["serve", "--preset", "same-origin", "--bind", `127.0.0.1:${api}`, "--trusted-proxy", "127.0.0.1"], { env });
    const dist = withTutorial(buildSpa("same-origin", path.join(ART, "dist-same-origin")), "", "header");
    const servers = [await staticServer(front, dist)];
    await startNginx(nginxConf(`127.0.0.1:${proxy}`, `127.0.0.1:${api}`, `127.0.0.1:${front}`));
    await waitFor(`http://127.0.0.1:${api}/api/session/`);
    await waitFor(`http://127.0.0.1:${proxy}/api/session/`);
    // deploy/nginx/forward-auth.conf: the same SPA and API, plus an upstream
    // with no login of its own guarded by latchkey through auth_request.
    const [guarded, fa] = [await freePort(), await freePort()];
    servers.push(await protectedUpstream(guarded));
    const faConf = nginxConf(`127.0.0.1:${fa}`, `127.0.0.1:${api}`, `127.0.0.1:${front}`, "forward-auth.conf");
    fs.writeFileSync(path.join(faConf, "nginx.conf"), fs.readFileSync(path.join(faConf, "nginx.conf"), "utf8").replaceAll("${PROTECTED}", `127.0.0.1:${guarded}`));
    await startNginx(faConf);
    await waitFor(`http://127.0.0.1:${fa}/api/session/`);
    const a = await attackers(`http://localhost:${proxy}`);
    // nginx's /admin rule (the tutorial's layout) reaches latchkey's admin.
    const admin = await fetch(`http://127.0.0.1:${proxy}/admin/`);
    assert(admin.status === 200 && (await admin.text()).includes("Latchkey administration"), "/admin/ is latchkey's admin");
    return {
      name: "same-origin",
      spa: `http://localhost:${proxy}/`,
      forwardAuth: `http://localhost:${fa}`,
      admin: `http://localhost:${proxy}/admin/`,
      tutorial: `http://localhost:${proxy}/tutorial.html`,
      smtp,
      env,
      ...a,
      servers: [...servers, ...a.servers, smtp],
    };
  },

  async rest() {
    const env = prepareDatabase("rest");
    const [api, front, proxy] = [await freePort(), await freePort(), await freePort()];
    const smtp = await withMail(env, `http://localhost:${proxy}`);
    // Listing the public origin (the second documented way), no proxy trust.
    start("latchkey-rest", BIN, ["serve", "--preset", "rest", "--bind", `127.0.0.1:${api}`, "--allowed-origin", `http://localhost:${proxy}`], { env });
    const dist = withTutorial(buildSpa("same-origin", path.join(ART, "dist-rest")), "", "header");
    const servers = [await staticServer(front, dist)];
    await startNginx(nginxConf(`127.0.0.1:${proxy}`, `127.0.0.1:${api}`, `127.0.0.1:${front}`));
    await waitFor(`http://127.0.0.1:${api}/api/csrf/`);
    await waitFor(`http://127.0.0.1:${proxy}/api/csrf/`);
    const a = await attackers(`http://localhost:${proxy}`);
    return {
      name: "rest",
      spa: `http://localhost:${proxy}/`,
      admin: `http://localhost:${proxy}/admin/`,
      tutorial: `http://localhost:${proxy}/tutorial.html`,
      smtp,
      env,
      ...a,
      servers: [...servers, ...a.servers, smtp],
      async extra(ctx) {
        await step(ctx, "HTTP Basic works through the proxy", async () => {
          const basic = "Basic " + Buffer.from(`${USER}:${PASSWORD}`).toString("base64");
          const ok = await fetch(`http://localhost:${proxy}/api/whoami/`, { headers: { Authorization: basic } });
          assert(ok.status === 200, `status ${ok.status}`);
          assert((await ok.json()).username === USER, "username");
          const bad = await fetch(`http://localhost:${proxy}/api/session/`, { headers: { Authorization: "Basic " + Buffer.from(`${USER}:nope`).toString("base64") } });
          assert(bad.status === 403 && (await bad.json()).detail === "Invalid username/password.", "wrong Basic credentials are 403");
          const anon = await fetch(`http://localhost:${proxy}/api/session/`);
          assert(anon.status === 403 && (await anon.json()).detail === "Authentication credentials were not provided.", "anonymous 403");
        });
      },
    };
  },

  async "cross-origin"() {
    const env = prepareDatabase("cross-origin");
    const [api, spa, evil] = [await freePort(), await freePort(), await freePort()];
    const spaOrigin = `http://localhost:${spa}`;
    const smtp = await withMail(env, spaOrigin);
    const apiOrigin = `http://localhost:${api}`;
    const oidc = await oidcProvider(apiOrigin);
    start("latchkey-cross-origin", BIN, ["serve", "--preset", "cross-origin", "--bind", `127.0.0.1:${api}`, "--allowed-origin", spaOrigin, "--config", oidc.config], { env });
    const dist = withTutorial(buildSpa("cross-origin", path.join(ART, "dist-cross-origin"), { VITE_API_BASE: apiOrigin }), apiOrigin, "header");
    const servers = [await staticServer(spa, dist), await staticServer(evil, null, attackPages(apiOrigin))];
    await waitFor(`http://127.0.0.1:${api}/api/csrf/`);
    const a = await attackers(apiOrigin);
    return {
      name: "cross-origin",
      spa: `${spaOrigin}/`,
      admin: `${apiOrigin}/admin/`,
      tutorial: `${spaOrigin}/tutorial.html`,
      disallowed: `http://127.0.0.1:${evil}`,
      oidc,
      smtp,
      env,
      ...a,
      servers: [...servers, ...a.servers, smtp],
    };
  },
};

// ------------------------------------------------------------------- main

async function main() {
  const timer = setTimeout(() => {
    console.error(`[e2e] deadline of ${DEADLINE_MS / 1000} s reached; stopping`);
    killAllNow();
    process.exit(2);
  }, DEADLINE_MS);
  log(`artifacts: ${ART}`);
  if (!fs.existsSync(BIN) && !process.env.LATCHKEY_BIN) {
    // Build what is missing: the embedded SPA first (cargo embeds it), then the server.
    log("building the SPA and the latchkey binary");
    run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: path.join(ROOT, "frontend") });
    run("npm", ["run", "build"], { cwd: path.join(ROOT, "frontend") });
    run("cargo", ["build", "-p", "latchkey-server"], { cwd: ROOT });
  }
  assert(fs.existsSync(BIN), `no latchkey binary at ${BIN}`);
  assert(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}; install Debian's chromium package`);
  for (const [name, setup] of Object.entries(topologies)) {
    if (ONLY && !ONLY.includes(name)) continue;
    log(`--- ${name}`);
    let t;
    try {
      t = await setup();
      await scenario(t);
    } catch (e) {
      failed += 1;
      failures.push(`${name}: setup: ${e.message}`);
      log(`FAIL ${name}: setup: ${e.stack ?? e.message}`);
    } finally {
      for (const s of [...(t?.servers ?? [])]) s.close();
      await stopAll();
      children.length = 0;
    }
  }
  clearTimeout(timer);
  console.log("");
  if (failures.length) {
    console.log("Failures:\n" + failures.map((f) => "  - " + f).join("\n"));
    console.log(`artifacts (screenshots, console and server logs): ${ART}`);
  }
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch(async (e) => {
  console.error(e);
  await stopAll();
  process.exit(1);
});
