import { describe, expect, it } from "vitest";

import { ApiError } from "../api/client";
import {
  CODE_WORDS,
  accountErrorMessage,
  adminErrorMessage,
  loginErrorMessage,
  resetErrorMessage,
  signupErrorMessage,
} from "./messages";

const screens = [loginErrorMessage, accountErrorMessage, adminErrorMessage, signupErrorMessage, resetErrorMessage];

describe("the one map from error codes to words", () => {
  it("says a shared code the same way on every screen", () => {
    for (const [code, words] of Object.entries(CODE_WORDS)) {
      for (const screen of screens) expect(screen(new ApiError(400, code, "server words")), code).toBe(words);
    }
  });

  it("says a lost connection and a busy server the same way everywhere", () => {
    for (const screen of screens) {
      expect(screen(new ApiError(0, "network_error", "Failed to fetch"))).toContain("Cannot reach the server");
      expect(screen(new ApiError(503, "unavailable", "x"))).toContain("The server is busy");
    }
  });

  it("lets a screen say a code in its own words, and falls back to the server's", () => {
    expect(signupErrorMessage(new ApiError(404, "not_found", "Not found."))).toBe("Sign-up is closed on this site.");
    expect(accountErrorMessage(new ApiError(404, "not_found", "Not found."))).toBe("Not found.");
    expect(loginErrorMessage(new ApiError(400, "missing_credentials", "x"))).toBe("Wrong username or password.");
    expect(accountErrorMessage(new ApiError(400, "invalid_name", "Too long."))).toBe("Too long.");
  });
});
