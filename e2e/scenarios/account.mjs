// The account page, password reset, and sign-up with verification.

import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";

import { BIN, NEW_PASSWORD, PASSWORD, REAUTH_WINDOW_S, USER, assert, confirmIfAsked, launch, mailBody, nextMail, openAccount, run, sessionRows, signedInAs, start, step, uiLogin } from "../harness.mjs";

/**
 * The Account page with two browsers: list, end the other, sign out
 * everywhere else, re-authenticate, change the password; and foreign pages
 * that try the same. Leaves `page` signed in with PASSWORD.
 */
export async function accountScenario(ctx, t, page) {
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
export async function resetScenario(ctx, t, page) {
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

/** Sign up with mandatory verification: the mail, the link, the click, the login. */
export async function signupScenario(ctx, t) {
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
