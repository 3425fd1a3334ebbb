import { describe, expect, it } from "vitest";

import { loginErrorMessage } from "./App";
import { ApiError } from "./api/client";

describe("login error messages", () => {
  it("says 'Wrong username or password.' on a 400 and something else otherwise", () => {
    expect(loginErrorMessage(new ApiError(400, "invalid_credentials", "Invalid credentials."))).toBe("Wrong username or password.");
    const others = [
      loginErrorMessage(new ApiError(403, "csrf_failed", "CSRF Failed: x")),
      loginErrorMessage(new ApiError(429, "throttled", "slow down")),
      loginErrorMessage(new ApiError(0, "network_error", "Failed to fetch")),
    ];
    expect(new Set(others).size).toBe(3);
    for (const m of others) expect(m).not.toBe("Wrong username or password.");
    expect(others[0]).toContain("CSRF Failed: x");
  });
});

describe("second-factor messages", () => {
  it("say what went wrong with the code, not the password", () => {
    expect(loginErrorMessage(new ApiError(400, "invalid_code", "That code is not valid."))).toContain("code is not valid");
    expect(loginErrorMessage(new ApiError(400, "mfa_not_pending", "x"))).toContain("expired");
    expect(loginErrorMessage(new ApiError(400, "invalid_credentials", "x"))).toBe("Wrong username or password.");
  });
});
