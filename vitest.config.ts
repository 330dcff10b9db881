import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real-socket tests run the compiled server (dist/), built once here.
    globalSetup: ['test/setup/build.ts'],
    // Each test starts real HTTP servers (the BFF and the upstream simulator) on random ports.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks'
  }
})
