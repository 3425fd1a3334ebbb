import { describe, expect, it } from "vitest";

import { oidcErrorMessage } from "../ui/messages";
import { splitQueryParam } from "./oidc";

describe("oidcErrorMessage", () => {
  it("says every code the server sends in words, naming the provider", () => {
    const codes = [
      "access_denied",
      "provider_error",
      "provider_misconfigured",
      "provider_unavailable",
      "state_invalid",
      "issuer_mismatch",
      "token_invalid",
      "account_inactive",
      "link_required",
      "signup_closed",
      "email_required",
      "email_unverified",
      "provider_email_unverified",
      "identity_taken",
      "link_invalid",
      "throttled",
    ];
    const fallback = oidcErrorMessage("something_new");
    for (const code of codes) {
      const words = oidcErrorMessage(code, "Acme SSO");
      expect(words, code).not.toBe(fallback);
      expect(words, code).not.toContain("_");
    }
    expect(oidcErrorMessage("access_denied", "Acme SSO")).toContain("Acme SSO");
  });
});

describe("splitQueryParam", () => {
  it("returns the value and the address without it, keeping the rest", () => {
    expect(splitQueryParam("/account?linked=corp&tab=2#x", "linked")).toEqual({ value: "corp", rest: "/account?tab=2#x" });
    expect(splitQueryParam("/?loginError=state_invalid", "loginError")).toEqual({ value: "state_invalid", rest: "/" });
    expect(splitQueryParam("/account", "linked")).toEqual({ value: null, rest: "/account" });
  });
});
