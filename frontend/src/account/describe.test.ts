import { describe, expect, it } from "vitest";

import { describeUserAgent, relativeTime } from "./describe";

describe("describeUserAgent", () => {
  it("names common browsers and systems in words", () => {
    const cases: [string, string][] = [
      ["Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0", "Firefox 140 on Windows"],
      [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
        "Chrome 142 on macOS",
      ],
      [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
        "Edge 142 on Windows",
      ],
      [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Safari 18 on iOS",
      ],
      [
        "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36",
        "Chrome 142 on Android",
      ],
      [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36",
        "Headless Chrome 142 on Linux",
      ],
      ["curl/8.11.1", "curl 8"],
      ["python-requests/2.32", "python-requests/2.32"],
    ];
    for (const [ua, words] of cases) expect(describeUserAgent(ua)).toBe(words);
  });

  it("says so when nothing is known", () => {
    expect(describeUserAgent(null)).toBe("Unknown browser");
    expect(describeUserAgent("")).toBe("Unknown browser");
  });
});

describe("relativeTime", () => {
  const now = new Date("2026-12-02T12:00:00Z");
  it("reads like a person would say it", () => {
    expect(relativeTime("2026-12-02T11:59:50Z", now)).toBe("just now");
    expect(relativeTime("2026-12-02T11:55:00Z", now)).toBe("5 minutes ago");
    expect(relativeTime("2026-12-02T09:00:00Z", now)).toBe("3 hours ago");
    expect(relativeTime("2026-12-01T12:00:00Z", now)).toBe("yesterday");
    expect(relativeTime("2026-12-16T12:00:00Z", now)).toBe("in 2 weeks");
    expect(relativeTime("not a date", now)).toBe("unknown");
  });
});
