// Signing in with an OpenID Connect provider (e2e/oidc-provider.mjs).

import fs from "node:fs";
import path from "node:path";

import { ART, OIDC_LOGIN, ROOT, Step, assert, launch, log, openAccount, signedInAs, start, step } from "../harness.mjs";

/**
 * The test OpenID Connect provider (oidc-provider.mjs) on 127.0.0.1 (another
 * site than the SPA's localhost, so the redirect back is cross-site), and a
 * config file that makes it latchkey's provider `corp`.
 */
export async function oidcProvider(publicUrl) {
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
export async function oidcScenario(t) {
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
