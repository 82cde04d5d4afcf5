import js from "@eslint/js";
import svelte from "eslint-plugin-svelte";
import globals from "globals";
import ts from "typescript-eslint";

export default ts.config(
  { ignores: ["dist/", "node_modules/", "src/bindings.ts"] },
  js.configs.recommended,
  ...ts.configs.strict,
  ...svelte.configs["flat/recommended"],
  {
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ["**/*.svelte", "**/*.svelte.ts"],
    languageOptions: { parserOptions: { parser: ts.parser } },
  },
  {
    rules: {
      // Text from outside (repo names, logs) is always rendered as text.
      "svelte/no-at-html-tags": "error",
      // Only src/api/ talks to the backend.
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@tauri-apps/api", "@tauri-apps/api/*", "**/bindings", "**/bindings.ts"],
              message: "Call the backend through src/api/ only.",
            },
          ],
        },
      ],
    },
  },
  {
    // The API layer itself, and tests that mock the backend.
    files: ["src/api/**", "src/**/*.test.ts", "src/testing.ts"],
    rules: { "no-restricted-imports": "off" },
  },
);
