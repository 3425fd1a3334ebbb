// The harness of the end-to-end tests (run.mjs): settings, processes stopped by PID,
// static servers, the SMTP sink, steps and the checks every scenario uses.

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

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const BIN = process.env.LATCHKEY_BIN ?? path.join(ROOT, "target/debug/latchkey");

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export const ONLY = process.env.E2E_ONLY ? process.env.E2E_ONLY.split(",") : null;

export const ART = fs.mkdtempSync(path.join(os.tmpdir(), "latchkey-e2e-"));

export const USER = "demo";

export const PASSWORD = "e2e-password-демо";

export const ATTACKER = "mallory";

export const ATTACKER_PASSWORD = "mallory-password";

export const NEW_PASSWORD = "a fresh e2e passphrase 2";

export const MFA_USER = "two-step";

export const MFA_PASSWORD = "two-step passphrase 8";

export const PASSKEY_USER = "passkey-user";

export const PASSKEY_PASSWORD = "passkey passphrase 8";

export const STAFF_MFA_USER = "mfa-staff";

// Short, so the re-authentication prompt can be exercised without waiting minutes.
export const REAUTH_WINDOW_S = 3;

export const OIDC_LOGIN = "oidc-user";

export const DEADLINE_MS = 10 * 60 * 1000;

export const children = [];

// What the steps found, counted where the steps run.
export const counts = { passed: 0, failed: 0 };

export const failures = [];

export function log(...args) {
  console.log("[e2e]", ...args);
}

export function start(name, cmd, args, opts = {}) {
  const out = fs.openSync(path.join(ART, `${name}.log`), "a");
  const child = spawn(cmd, args, { stdio: ["ignore", out, out], ...opts });
  child.name = name;
  children.push(child);
  child.on("exit", (code, signal) => {
    child.exited = { code, signal };
  });
  return child;
}

export async function stop(child) {
  if (!child || child.exited) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.exited || child.kill("SIGKILL"), 5000);
  if (!child.exited) await once(child, "exit").catch(() => {});
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all(children.map(stop));
}

export function killAllNow() {
  for (const c of children) if (!c.exited) c.kill("SIGKILL");
}
process.on("exit", killAllNow);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    killAllNow();
    process.exit(130);
  });
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

export async function waitFor(url, ms = 20000) {
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

export const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

/** A static server: files from `dir` (SPA fallback to index.html), plus `extra` pages. */
export async function staticServer(port, dir, extra = {}) {
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
export async function protectedUpstream(port) {
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

/** A real SMTP server on a loopback port that keeps every message (what a dev mail catcher does). */
export async function smtpSink() {
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
export function mailBody(data) {
  const [head, ...rest] = data.split("\r\n\r\n");
  const body = rest.join("\r\n\r\n");
  if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
    const bytes = Buffer.from(body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1");
    return bytes.toString("utf8");
  }
  if (/content-transfer-encoding:\s*base64/i.test(head)) return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  return body;
}

export class Step {
  constructor(topology) {
    this.topology = topology;
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

export async function step(ctx, name, fn) {
  const label = `${ctx.topology}: ${name}`;
  const consoleLines = [];
  const onConsole = (m) => consoleLines.push(`[${m.type()}] ${m.text()}`);
  ctx.page?.on("console", onConsole);
  try {
    await fn();
    counts.passed += 1;
    log(`ok   ${label}`);
  } catch (e) {
    counts.failed += 1;
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

export async function signedInAs(page) {
  await page.waitForSelector('[data-testid="greeting"], [data-testid="login-form"]', { timeout: 10000 });
  const greeting = await page.$('[data-testid="greeting"]');
  return greeting ? (await greeting.textContent()).replace("You are logged in as ", "").trim() : null;
}

export async function uiLogin(page, spa, password = PASSWORD, username = USER) {
  await page.goto(spa);
  await page.waitForSelector('[data-testid="login-form"]');
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="greeting"], [data-testid="login-error"]');
}

export async function sessionRows(page) {
  await page.waitForSelector('[data-testid="sessions-table"]');
  return page.$$eval('[data-testid="session-row"]', (rows) =>
    rows.map((r) => ({ current: r.dataset.current === "true", text: r.textContent })),
  );
}

/** Opens the Account page through the navigation, as a person would. */
export async function openAccount(page, spa) {
  if (!page.url().startsWith(spa)) await page.goto(spa);
  await page.waitForSelector('[data-testid="nav-account"]');
  await page.click('[data-testid="nav-account"]');
  return sessionRows(page);
}

/** After a sensitive click: confirm the password if the dialog asks for it. */
export async function confirmIfAsked(page, done) {
  const first = await page.waitForSelector(`[data-testid="reauth-dialog"], ${done}`);
  if ((await first.getAttribute("data-testid")) === "reauth-dialog") {
    await page.fill("#reauth-password", PASSWORD);
    await page.click('[data-testid="reauth-dialog"] button[type="submit"]');
  }
  await page.waitForSelector(done);
}

export async function launch() {
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

/** Waits for the next mail to `to` on the sink; returns its body text. */
export async function nextMail(t, to, since, page) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const m = t.smtp.messages.slice(since).find((x) => x.to.includes(to));
    if (m) return mailBody(m.data);
    assert(Date.now() < deadline, `no mail to ${to} reached the SMTP server`);
    await page.waitForTimeout(100);
  }
}

/** Answers the password prompt of a sensitive admin action if it appears. */
export async function reauthIfAsked(page, done) {
  const which = await page.waitForSelector(`[data-testid="reauth-dialog"], ${done}`);
  if ((await which.getAttribute("data-testid")) === "reauth-dialog") {
    await page.fill("#reauth-password", PASSWORD);
    await page.click('[data-testid="reauth-dialog"] button[type="submit"]');
    await page.waitForSelector(done);
  }
}

export async function adminSignIn(page, admin, username, password) {
  const res = await page.goto(admin);
  await page.waitForSelector('[data-testid="admin-login"]');
  await page.fill("#admin-username", username);
  await page.fill("#admin-password", password);
  await page.click('[data-testid="admin-login"] button[type="submit"]');
  return res;
}

/** RFC 6238 in the test: the code of `secretB32` for the step of `ms` (+ `steps`). */
export function totpCode(secretB32, ms, steps = 0) {
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
