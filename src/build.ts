/**
 * `bun run build`: one self-contained executable, dist/ivs-fanout, for both modes.
 *
 * node-datachannel picks its native addon package by name at run time, which the bundler cannot
 * see; this plugin replaces that loader with a static import of the addon so it is embedded (and
 * unpacked to BUN_TMPDIR / the system temp folder at run time).
 */
import type { BunPlugin } from 'bun'

const ADDON = '@node-datachannel/linux-x64-gnu/node_datachannel.node'

const embedNodeDataChannel: BunPlugin = {
  name: 'embed-node-datachannel',
  setup(build) {
    build.onLoad({ filter: /node-datachannel[\\/]dist[\\/]esm[\\/]lib[\\/]node-datachannel\.mjs$/ }, () => ({
      contents: `import binding from '${ADDON}'\nexport default binding\n`,
      loader: 'js',
    }))
  },
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`build: only linux-x64 (glibc) is set up; this is ${process.platform}-${process.arch}`)
  process.exit(1)
}

const outfile = 'dist/ivs-fanout'
const result = await Bun.build({
  entrypoints: ['src/main.ts'],
  compile: { outfile },
  format: 'esm',
  bytecode: true,
  // Whitespace and syntax only: full minification renames classes, which logs and errors show.
  minify: { whitespace: true, syntax: true, identifiers: false },
  sourcemap: 'none',
  plugins: [embedNodeDataChannel],
})
if (!result.success) {
  for (const log of result.logs) console.error(log)
  process.exit(1)
}
console.log(`built ${outfile}`)
