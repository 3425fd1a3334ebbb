// The admin at /admin/.

import fs from "node:fs";
import path from "node:path";

import { PASSWORD, USER, adminSignIn, assert, counts, launch, reauthIfAsked, signedInAs, step, uiLogin } from "../harness.mjs";

/**
 * The admin at /admin/, served by latchkey itself (behind nginx's /admin
 * rule, or on the API's origin cross-origin): a staff user adds a user,
 * finds them by search and deactivates them, which signs their open browser
 * out; a non-staff user gets "Not allowed" and no data; foreign pages cannot
 * drive an admin action.
 */
export async function adminScenario(ctx, t) {
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
