import { describe, expect, it } from "vitest";

import { ApiClient } from "../api/client";
import { adminApi, countText, queryString } from "./api";

describe("queryString", () => {
  it("keeps only the set values, encoded", () => {
    expect(queryString({ search: "a b&c", isStaff: false, page: 2, kind: undefined, user: "" })).toBe(
      "?search=a+b%26c&isStaff=false&page=2",
    );
    expect(queryString({})).toBe("");
  });
});

describe("countText", () => {
  it("says 'about' for an estimate", () => {
    expect(countText({ count: 1234567, countIsEstimate: true })).toBe("about 1,234,567");
    expect(countText({ count: 42, countIsEstimate: false })).toBe("42");
  });
});

describe("adminApi", () => {
  it("calls the admin endpoints with the right methods and relative paths", async () => {
    const calls: [string, string, unknown][] = [];
    const api = {
      request: async (method: string, path: string, body?: unknown) => {
        calls.push([method, path, body]);
        return path.endsWith("/sessions/") && method === "GET" ? { sessions: [] } : {};
      },
    } as unknown as ApiClient;
    const admin = adminApi(api);
    await admin.users({ search: "ann", isActive: true, ordering: "-lastLogin", page: 3, pageSize: 25 });
    await admin.updateUser(7, { isActive: false });
    await admin.setPassword(7, "pw");
    await admin.userSessions(7);
    await admin.endUserSessions(7);
    await admin.endSession("7.abc");
    await admin.events({ user: "ann", kind: "login" });
    await admin.factors(7);
    await admin.resetFactors(7);
    expect(calls).toEqual([
      ["GET", "/api/admin/users/?search=ann&isActive=true&ordering=-lastLogin&page=3&pageSize=25", undefined],
      ["PATCH", "/api/admin/users/7/", { isActive: false }],
      ["POST", "/api/admin/users/7/password/", { newPassword: "pw" }],
      ["GET", "/api/admin/users/7/sessions/", undefined],
      ["DELETE", "/api/admin/users/7/sessions/", undefined],
      ["DELETE", "/api/admin/sessions/7.abc/", undefined],
      ["GET", "/api/admin/events/?user=ann&kind=login", undefined],
      ["GET", "/api/admin/users/7/mfa/", undefined],
      ["DELETE", "/api/admin/users/7/mfa/", undefined],
    ]);
  });
});
