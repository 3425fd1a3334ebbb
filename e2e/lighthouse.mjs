// Lighthouse accessibility and best-practices audits of every page of the
// SPA, in Debian's Chromium: each must score 100 in both categories.
//
// One command: `node e2e/lighthouse.mjs` (part of scripts/test, after the
// e2e suite). It starts the embedded server (the binary's own SPA, its CSP)
// on a free loopback port with a fresh database, signs a user in, audits
// each page as an anonymous and as a signed-in visitor, prints every audit
// that fell short, and stops the server by PID. Reports go to a temp folder.
//
// Environment: LATCHKEY_BIN (default target/debug/latchkey), CHROMIUM
// (default /usr/bin/chromium).

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";
import puppeteer from "puppeteer-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = process.env.LATCHKEY_BIN ?? path.join(ROOT, "target/debug/latchkey");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), "latchkey-lighthouse-"));
const USER = "demo";
const PASSWORD = "lighthouse-password-1";
const DEADLINE_MS = 5 * 60 * 1000;

/** Every page, as whom. */
const PAGES = [
  { name: "sign-in form", path: "/", signedIn: false },
  { name: "sign-in after a provider refused (OpenID Connect)", path: "/?loginError=access_denied", signedIn: false },
  { name: "forgot password", path: "/forgot-password", signedIn: false },
  { name: "sign up", path: "/signup", signedIn: false },
  { name: "confirm email (from the mailed link)", path: "/verify-email?key=0123456789abcdefABCDEF0123456789", signedIn: false },
  { name: "reset password (from the mailed link)", path: "/reset-password?key=0123456789abcdefABCDEF0123456789", signedIn: false },
  { name: "admin sign-in", path: "/admin/", signedIn: false },
  { name: "signed-in home", path: "/", signedIn: true },
  { name: "account", path: "/account", signedIn: true },
  { name: "account after linking failed (OpenID Connect)", path: "/account?linkError=identity_taken", signedIn: true },
  { name: "page not found", path: "/no-such-page", signedIn: true },
  { name: "admin users", path: "/admin/users", signedIn: true },
  { name: "admin user", path: "/admin/users/1", signedIn: true },
  { name: "admin sessions", path: "/admin/sessions", signedIn: true },
  { name: "admin events", path: "/admin/events", signedIn: true },
  { name: "admin not allowed (a user who is not staff)", path: "/admin/users", signedIn: true, as: "plain" },
  // A second server on the same database requires a second factor of staff (mfa.required_for_staff).
  { name: "second factor required (site)", path: "/", signedIn: true, server: "strict" },
  { name: "second factor required (admin)", path: "/admin/users", signedIn: true, server: "strict" },
];
const PLAIN = "plain-user";

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

async function main() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const strictPort = await freePort();
  const strictBase = `http://127.0.0.1:${strictPort}`;
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LATCHKEY_"))),
    LATCHKEY_DATABASE_URL: `sqlite://${path.join(OUT, "db.sqlite3")}`,
    LATCHKEY_PASSWORD_HASHER__MEMORY_KIB: "1024",
    LATCHKEY_PASSWORD_HASHER__ITERATIONS: "1",
    LATCHKEY_ACCOUNTS__SIGNUP: "open",
    // The request lines are how the run proves the signed-in pages were signed in.
    RUST_LOG: "info",
  };
  for (const args of [
    ["migrate"],
    ["createsuperuser", "--username", USER, "--email", "demo@example.com", "--no-input"],
    ["createsuperuser", "--username", PLAIN, "--no-input"],
    ["users", "set", PLAIN, "--no-superuser", "--no-staff"],
  ]) {
    const r = spawnSync(BIN, args, { env: { ...env, LATCHKEY_PASSWORD: PASSWORD }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`latchkey ${args[0]}: ${r.stderr}`);
  }
  // An OpenID Connect provider, so the sign-in page shows its button and the
  // Account page its "Link" (nothing listens at the issuer: these audits
  // never leave for it).
  const config = path.join(OUT, "oidc.toml");
  fs.writeFileSync(
    config,
    `public_url = "${base}"\n[[oidc.providers]]\nid = "corp"\nname = "Corp SSO"\nissuer = "http://127.0.0.1:9"\nclient_id = "latchkey"\nclient_secret = "unused"\n`,
  );
  const log = fs.openSync(path.join(OUT, "server.log"), "a");
  const server = spawn(BIN, ["serve", "--preset", "embedded", "--bind", `127.0.0.1:${port}`, "--config", config], {
    env,
    stdio: ["ignore", log, log],
  });
  const strictLog = fs.openSync(path.join(OUT, "server-mfa-required.log"), "a");
  const strict = spawn(BIN, ["serve", "--preset", "embedded", "--bind", `127.0.0.1:${strictPort}`], {
    env: { ...env, LATCHKEY_MFA__REQUIRED_FOR_STAFF: "true" },
    stdio: ["ignore", strictLog, strictLog],
  });
  let chrome;
  const deadline = setTimeout(() => {
    console.error("[lighthouse] deadline reached; stopping");
    server.kill("SIGKILL");
    strict.kill("SIGKILL");
    chrome?.kill();
    process.exit(2);
  }, DEADLINE_MS);
  try {
    for (const b of [base, strictBase]) {
      for (let i = 0; ; i++) {
        try {
          if ((await fetch(`${b}/api/session/`)).ok) break;
        } catch {
          // Not listening yet.
        }
        if (i > 200) throw new Error(`the server at ${b} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // Sign in as the SPA would, and keep the session cookies for the audits.
    const csrf = await fetch(`${base}/api/csrf/`);
    const token = csrf.headers.get("x-csrftoken");
    const csrfCookie = csrf.headers.getSetCookie().find((c) => c.startsWith("csrftoken=")).split(";")[0];
    const signIn = async (username) => {
      const login = await fetch(`${base}/api/login/`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token, Cookie: csrfCookie },
        body: JSON.stringify({ username, password: PASSWORD }),
      });
      if (!login.ok) throw new Error(`login of ${username}: ${login.status}`);
      return login.headers.getSetCookie().find((c) => c.startsWith("sessionid=")).split(";")[0];
    };
    const sessions = { demo: await signIn(USER), plain: await signIn(PLAIN) };

    chrome = await chromeLauncher.launch({
      chromePath: CHROMIUM,
      chromeFlags: [
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
    // The session goes into the browser's cookie jar (an extra Cookie
    // header would reach the page but not the SPA's own fetch calls), and
    // Lighthouse is told to keep it.
    const browser = await puppeteer.connect({ browserURL: `http://127.0.0.1:${chrome.port}` });
    let failed = 0;
    let cookiesOf = null;
    for (const page of PAGES) {
      const who = page.as ?? "demo";
      if (page.signedIn && cookiesOf !== who) {
        const [name, value] = sessions[who].split("=");
        const [cname, cvalue] = csrfCookie.split("=");
        await browser.setCookie({ name, value, domain: "127.0.0.1", path: "/", httpOnly: true }, { name: cname, value: cvalue, domain: "127.0.0.1", path: "/" });
        cookiesOf = who;
      }
      const result = await lighthouse(`${page.server === "strict" ? strictBase : base}${page.path}`, {
        port: chrome.port,
        onlyCategories: ["accessibility", "best-practices"],
        disableStorageReset: true,
        output: "json",
        logLevel: "error",
      });
      const lhr = result.lhr;
      const slug = page.name.replace(/[^a-z0-9]+/gi, "-");
      fs.writeFileSync(path.join(OUT, `${slug}.json`), result.report);
      const scores = Object.fromEntries(Object.entries(lhr.categories).map(([k, v]) => [k, Math.round(v.score * 100)]));
      const short = Object.values(lhr.audits).filter(
        (a) => a.score !== null && a.score < 1 && ["binary", "numeric"].includes(a.scoreDisplayMode),
      );
      // The signed-in pages must really be signed in, or the audit says nothing about them.
      const landed = lhr.finalDisplayedUrl;
      const ok = Object.values(scores).every((s) => s === 100);
      if (!ok) failed += 1;
      console.log(
        `[lighthouse] ${ok ? "ok  " : "FAIL"} ${page.name} (${landed}): accessibility ${scores.accessibility}, best practices ${scores["best-practices"]}`,
      );
      for (const a of short) console.log(`    - ${a.id}: ${a.title}`);
      if (page.signedIn && page.path === "/account" && !landed.endsWith("/account")) {
        failed += 1;
        console.log("[lighthouse] FAIL the account page redirected: the audit was not signed in");
      }
    }
    await browser.disconnect();
    // A signed-out audit must not pass for a signed-in one: the account page
    // really loaded the user's sessions.
    const served = fs.readFileSync(path.join(OUT, "server.log"), "utf8");
    if (!/path=\/api\/sessions\/ status=200/.test(served)) {
      failed += 1;
      console.log("[lighthouse] FAIL the account page never listed the sessions: the audit was not signed in");
    }
    // And the admin's pages were a staff user's: their data was served.
    for (const api of ["/api/admin/users/", "/api/admin/sessions/", "/api/admin/events/"]) {
      if (!new RegExp(`path=${api.replaceAll("/", "\\/")} status=200`).test(served)) {
        failed += 1;
        console.log(`[lighthouse] FAIL no admin page loaded ${api}: the admin audits were not signed in as staff`);
      }
    }
    // The second server's pages showed the setup (it served the user's factors, nothing else).
    const strictServed = fs.readFileSync(path.join(OUT, "server-mfa-required.log"), "utf8");
    if (!/path=\/api\/mfa\/ status=200/.test(strictServed) || /path=\/api\/admin\/users\/ status=200/.test(strictServed)) {
      failed += 1;
      console.log("[lighthouse] FAIL the second-factor-required pages did not show the setup");
    }
    console.log(`lighthouse: ${PAGES.length - failed} of ${PAGES.length} pages at 100 (reports: ${OUT})`);
    process.exitCode = failed === 0 ? 0 : 1;
  } finally {
    clearTimeout(deadline);
    chrome?.kill();
    server.kill("SIGTERM");
    strict.kill("SIGTERM");
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
