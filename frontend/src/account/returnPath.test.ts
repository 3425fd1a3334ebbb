import { describe, expect, it } from "vitest";

import { returnPath } from "./returnPath";

const O = "http://localhost:8080";

describe("returnPath", () => {
  it("takes a path on this origin, its own query included", () => {
    expect(returnPath("?next=/private/", O)).toBe("/private/");
    expect(returnPath("?next=/private/report?x=1&y=2", O)).toBe("/private/report?x=1&y=2");
    expect(returnPath("?a=1&next=/staff/", O)).toBe("/staff/");
    expect(returnPath("?next=%2Fprivate%2Fa%3Fb%3D1", O)).toBe("/private/a?b=1");
  });

  it("refuses anything that leaves the origin or is not a path", () => {
    for (const bad of [
      "?next=//evil.example/",
      "?next=/\\evil.example/",
      "?next=/\\/evil.example",
      "?next=https://evil.example/",
      "?next=http:/evil.example",
      "?next=javascript:alert(1)",
      "?next=%2F%2Fevil.example",
      "?next=%2F%5Cevil.example",
      "?next=/a\tb",
      "?next=",
      "?nexty=/private/",
      "",
    ]) {
      expect(returnPath(bad, O), bad).toBeNull();
    }
  });
});
