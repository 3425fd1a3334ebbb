// Forward auth behind nginx's auth_request.

import fs from "node:fs";
import path from "node:path";

import { ATTACKER, ATTACKER_PASSWORD, PASSWORD, USER, assert, launch, step } from "../harness.mjs";

/**
 * deploy/nginx/forward-auth.conf in a real nginx: an upstream with no login
 * of its own is guarded by latchkey (auth_request to /api/auth/verify/). An
 * anonymous browser is sent to sign in and comes back; the upstream gets the
 * user from headers nginx sets (a client's forged ones are replaced) and no
 * cookie; /staff/ needs staff; after logout the guard closes again; the
 * return path never leaves the site.
 */
export async function forwardAuthScenario(ctx, t) {
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
