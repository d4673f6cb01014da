// Three builds from top-level folders (electron-vite looks under src/ by default, so every entry is
// spelled out). Builds without an Electron binary: electron-vite only reads electron/package.json.
import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'

const at = (p: string) => resolve(import.meta.dirname, p)
const alias = { '#common': at('common') }

// Native and GPU packages must stay real files on disk (addons are loaded with dlopen).
const nativeExternals = [
  '@tensorflow/tfjs-node-gpu',
  '@tensorflow/tfjs-node',
  'better-sqlite3',
  /amalgam_linalg\.node$/,
  /\.node$/,
]

export default defineConfig({
  main: {
    resolve: { alias },
    build: {
      target: 'node20.19',
      outDir: 'out/main',
      rollupOptions: {
        input: {
          index: at('main/app/index.ts'),
          // job processes fork these by path (main/engine/jobs/child.ts looks for child-entry.js next
          // to itself, i.e. in chunks/ beside the bundled engine; utility.ts passes the task paths)
          'chunks/child-entry': at('main/engine/jobs/child-entry.ts'),
          'chunks/task-experiment': at('main/engine/services/tasks/experiment.ts'),
          'chunks/task-export': at('main/engine/services/tasks/export.ts'),
          'chunks/task-evaluator': at('main/engine/services/tasks/evaluator.ts'),
        },
        external: nativeExternals,
      },
    },
  },
  preload: {
    resolve: { alias },
    build: {
      outDir: 'out/preload',
      // a sandboxed preload cannot require() anything but electron: it must be one self-contained file
      externalizeDeps: false,
      rollupOptions: {
        input: { index: at('preload/index.ts') },
        external: ['electron'],
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: at('renderer'),
    // relative asset URLs: the page is loaded from file:// in Electron and from / by `amalgam serve`
    base: './',
    resolve: { alias },
    plugins: [vue()],
    build: {
      outDir: at('out/renderer'),
      emptyOutDir: true,
      // electron-vite leaves minification off; the same bundle is served to browsers by `amalgam serve`
      minify: 'esbuild',
      chunkSizeWarningLimit: 1200,
      rollupOptions: { input: { index: at('renderer/index.html') } },
    },
  },
})
