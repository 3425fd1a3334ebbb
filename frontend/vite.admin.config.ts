/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The admin: one build for every topology, served by the latchkey binary at
// /admin/ (same origin as the API, relative URLs). Output: dist-admin/, which
// cargo embeds into the binary beside the SPA.
export default defineConfig({
  root: "admin",
  base: "/admin/",
  publicDir: "../public",
  plugins: [react()],
  build: { outDir: "../dist-admin", emptyOutDir: true, assetsDir: "assets" },
});
