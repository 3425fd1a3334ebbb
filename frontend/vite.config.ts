/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// One build per topology: `vite build --mode embedded|same-origin|cross-origin`
// reads .env.<mode> (see README). Output goes to dist/ unless --outDir says otherwise.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, assetsDir: "assets" },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
