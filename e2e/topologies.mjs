// The four deployments (embedded, same-origin, rest, cross-origin): how each
// starts its servers.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";

import { ART, ATTACKER, ATTACKER_PASSWORD, BIN, MFA_PASSWORD, MFA_USER, PASSKEY_PASSWORD, PASSKEY_USER, PASSWORD, REAUTH_WINDOW_S, ROOT, STAFF_MFA_USER, USER, assert, freePort, protectedUpstream, run, smtpSink, start, staticServer, step, waitFor } from "./harness.mjs";
import { oidcProvider } from "./scenarios/oidc.mjs";
import { TUTORIAL_JS, attackPages, tutorialPage } from "./scenarios/site.mjs";

export function latchkeyEnv(db) {
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
export async function withMail(env, frontend) {
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

export function prepareDatabase(name) {
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

export function buildSpa(mode, outDir, env = {}) {
  run("npx", ["vite", "build", "--mode", mode, "--outDir", outDir, "--emptyOutDir"], {
    cwd: path.join(ROOT, "frontend"),
    env: { ...process.env, ...env },
  });
  return outDir;
}

export function withTutorial(dir, api, mode) {
  fs.writeFileSync(path.join(dir, "tutorial.html"), tutorialPage(api, mode));
  fs.writeFileSync(path.join(dir, "tutorial.js"), TUTORIAL_JS);
  return dir;
}

export async function attackers(apiOrigin) {
  const [pc, ps] = [await freePort(), await freePort()];
  const pages = attackPages(apiOrigin);
  const servers = [await staticServer(pc, null, pages), await staticServer(ps, null, pages)];
  return { servers, crossSite: `http://127.0.0.1:${pc}`, sameSite: `http://localhost:${ps}` };
}

export function nginxConf(listen, backend, frontend, file = "nginx.conf") {
  const template = fs.readFileSync(path.join(ROOT, "deploy/nginx", file), "utf8");
  const conf = template.replaceAll("${LISTEN}", listen).replaceAll("${BACKEND}", backend).replaceAll("${FRONTEND}", frontend);
  const dir = fs.mkdtempSync(path.join(ART, "nginx-"));
  fs.mkdirSync(path.join(dir, "logs"));
  fs.writeFileSync(path.join(dir, "nginx.conf"), conf);
  return dir;
}

export async function startNginx(dir) {
  const args = ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-g", `daemon off; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log;`];
  run("nginx", ["-t", ...args]);
  return start("nginx", "nginx", args);
}

export const topologies = {
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
