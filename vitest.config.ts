import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

export default defineConfig({
  plugins: [vue()],
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'engine', environment: 'node', include: ['tests/unit/**/*.test.ts'], pool: 'forks' } },
      { extends: true, test: { name: 'ui', environment: 'jsdom', include: ['tests/ui/**/*.test.ts'] } },
    ],
  },
})
