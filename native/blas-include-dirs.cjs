// Prints the include directories that hold OpenBLAS's cblas.h (with openblas_set_num_threads)
// and lapacke.h, for binding.gyp. Debian/Ubuntu put cblas.h under a multiarch openblas-* folder.
const { existsSync } = require('node:fs')
const { join } = require('node:path')
const arch = { x64: 'x86_64', arm64: 'aarch64' }[process.arch] || process.arch
const candidates = [
  process.env.AMALGAM_BLAS_INCLUDE,
  `/usr/include/${arch}-linux-gnu/openblas-pthread`,
  `/usr/include/${arch}-linux-gnu/openblas-openmp`,
  `/usr/include/${arch}-linux-gnu/openblas-serial`,
  '/usr/include/openblas',
  '/opt/homebrew/opt/openblas/include',
  '/usr/local/opt/openblas/include',
  '/usr/include',
].filter(Boolean)
const dirs = candidates.filter((d) => existsSync(join(d, 'cblas.h')) || existsSync(join(d, 'lapacke.h')))
// gyp splits this output on whitespace
process.stdout.write(dirs.join(' '))
