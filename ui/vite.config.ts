import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vitest/config";

// The app loads `dist/` from its own bundle (tauri.conf.json `frontendDist`); no dev server.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  build: {
    target: "es2022",
    // WebKitGTK does not need legacy chunks; one small bundle is easiest to audit under the CSP.
    cssCodeSplit: false,
    sourcemap: false,
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts"],
  },
  resolve: process.env.VITEST ? { conditions: ["browser"] } : undefined,
});
