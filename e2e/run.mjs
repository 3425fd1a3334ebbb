// End-to-end tests of Latchkey's four deployment topologies in Debian's
// Chromium, driven by playwright-core.
//
// One command: `node e2e/run.mjs` (part of scripts/test). It builds the SPA
// variants it needs, starts every server on free loopback ports, waits for
// readiness, runs the scenario in each topology, and stops everything by PID,
// also on failure. Artifacts (a screenshot and the console log per failed
// step, server logs) go to a temp folder whose path is printed.
//
// Environment: LATCHKEY_BIN (default target/debug/latchkey), CHROMIUM
// (default /usr/bin/chromium), E2E_ONLY=embedded,rest (subset),
// E2E_SCREENSHOT=path (save a screenshot of the signed-in SPA there).

import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

import { ART, BIN, CHROMIUM, DEADLINE_MS, ONLY, ROOT, assert, children, counts, failures, killAllNow, log, run, stopAll } from "./harness.mjs";
import { scenario } from "./scenarios/site.mjs";
import { topologies } from "./topologies.mjs";

async function main() {
  const timer = setTimeout(() => {
    console.error(`[e2e] deadline of ${DEADLINE_MS / 1000} s reached; stopping`);
    killAllNow();
    process.exit(2);
  }, DEADLINE_MS);
  log(`artifacts: ${ART}`);
  if (!fs.existsSync(BIN) && !process.env.LATCHKEY_BIN) {
    // Build what is missing: the embedded SPA first (cargo embeds it), then the server.
    log("building the SPA and the latchkey binary");
    run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: path.join(ROOT, "frontend") });
    run("npm", ["run", "build"], { cwd: path.join(ROOT, "frontend") });
    run("cargo", ["build", "-p", "latchkey-server"], { cwd: ROOT });
  }
  assert(fs.existsSync(BIN), `no latchkey binary at ${BIN}`);
  assert(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}; install Debian's chromium package`);
  for (const [name, setup] of Object.entries(topologies)) {
    if (ONLY && !ONLY.includes(name)) continue;
    log(`--- ${name}`);
    let t;
    try {
      t = await setup();
      await scenario(t);
    } catch (e) {
      counts.failed += 1;
      failures.push(`${name}: setup: ${e.message}`);
      log(`FAIL ${name}: setup: ${e.stack ?? e.message}`);
    } finally {
      for (const s of [...(t?.servers ?? [])]) s.close();
      await stopAll();
      children.length = 0;
    }
  }
  clearTimeout(timer);
  console.log("");
  if (failures.length) {
    console.log("Failures:\n" + failures.map((f) => "  - " + f).join("\n"));
    console.log(`artifacts (screenshots, console and server logs): ${ART}`);
  }
  console.log(`e2e: ${counts.passed} passed, ${counts.failed} failed`);
  process.exit(counts.failed === 0 && counts.passed > 0 ? 0 : 1);
}

main().catch(async (e) => {
  console.error(e);
  await stopAll();
  process.exit(1);
});
