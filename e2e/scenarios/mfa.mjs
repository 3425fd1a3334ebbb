// Second factors: passkeys (Chromium's virtual authenticator), TOTP and recovery codes.

import { once } from "node:events";
import fs from "node:fs";

import { MFA_PASSWORD, MFA_USER, PASSKEY_PASSWORD, PASSKEY_USER, PASSWORD, STAFF_MFA_USER, USER, adminSignIn, assert, launch, reauthIfAsked, signedInAs, start, step, totpCode, uiLogin } from "../harness.mjs";

/**
 * Passkeys in the SPA with Chromium's virtual authenticator (DevTools
 * protocol: an internal platform authenticator that keeps discoverable
 * credentials and verifies the user): one is added on the Account page, it
 * signs in with no username or password, it proves the second step after a
 * password, and once removed it signs nobody in.
 */
export async function passkeyScenario(ctx, t) {
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
export async function mfaScenario(ctx, t) {
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
