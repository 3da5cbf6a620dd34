import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Firewall tests create network namespaces; running files one at a time keeps them
    // from contending for the xtables lock and keeps the 2-core CI machine predictable.
    fileParallelism: false,
    globalSetup: ["test/support/global-setup.ts"],
  },
});
