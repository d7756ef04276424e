/**
 * Amazon's IVS web SDK (amazon-ivs-web-broadcast) is licensed under the AWS Customer Agreement: the
 * project may use it in tests (a devDependency) and pages may load it from AWS's CDN, but the product
 * never bundles nor serves it (DESIGN §13). Checked here: no source of the product names the package
 * except as that CDN address, in the one constant of /watch; its version is the devDependency's
 * exact pin; and the bundle of the executable's entry takes no file of the package.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Glob } from 'bun'
import { IVS_SDK_URL, IVS_SDK_VERSION } from '../../src/http/watch'
import { SDK_FILE } from '../support/ivs-sdk'

const ROOT = resolve(import.meta.dir, '../..')
const PACKAGE = 'amazon-ivs-web-broadcast'
/** The CDN address as the constant spells it (a template) or as a page would (a version). */
const CDN_ADDRESS = /https:\/\/web-broadcast\.live-video\.net\/(?:\$\{IVS_SDK_VERSION\}|\d+\.\d+\.\d+)\/amazon-ivs-web-broadcast\.js/g

/** Every file of the product's sources (any kind: TypeScript, the pages' HTML, scripts, styles). */
function productFiles(): Record<string, string> {
  const files: Record<string, string> = {}
  for (const pattern of ['src/**/*', 'relay/**/*']) {
    for (const file of new Glob(pattern).scanSync(ROOT)) files[file] = readFileSync(join(ROOT, file), 'utf8')
  }
  return files
}

/** The files that name the package other than by the CDN address, and those that name the address. */
export function mentions(files: Record<string, string>): { elsewhere: string[]; cdn: string[] } {
  const elsewhere: string[] = []
  const cdn: string[] = []
  for (const [file, source] of Object.entries(files)) {
    const rest = source.replace(CDN_ADDRESS, '')
    if (rest.includes(PACKAGE)) elsewhere.push(file)
    if (rest !== source) cdn.push(file)
  }
  return { elsewhere, cdn }
}

describe('the IVS web SDK is never part of the product (AWS Customer Agreement)', () => {
  test('the check tells an import, a copy and a mention from the CDN address', () => {
    expect(
      mentions({
        'src/a.ts': `import { Stage } from 'amazon-ivs-web-broadcast'`,
        'src/b.js': `const sdk = await import('../node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js')`,
        'src/c.html': '<script src="/amazon-ivs-web-broadcast.js"></script>',
        // A template literal as the source spells it (the placeholder escaped here).
        'src/d.ts': `export const URL = \`https://web-broadcast.live-video.net/$\{IVS_SDK_VERSION}/amazon-ivs-web-broadcast.js\``,
        'src/e.html': '<script src="https://web-broadcast.live-video.net/1.41.0/amazon-ivs-web-broadcast.js"></script>',
        'src/f.ts': 'nothing here',
      }),
    ).toEqual({ elsewhere: ['src/a.ts', 'src/b.js', 'src/c.html'], cdn: ['src/d.ts', 'src/e.html'] })
  })

  test('no source under src/ or relay/ imports or names the package (an import would name it); only /watch names its CDN address, once', () => {
    const files = productFiles()
    expect(Object.keys(files).length).toBeGreaterThan(100)
    expect(mentions(files)).toEqual({ elsewhere: [], cdn: ['src/http/watch/index.ts'] })
    expect([...files['src/http/watch/index.ts']!.matchAll(CDN_ADDRESS)].length).toBe(1)
  })

  test("the CDN address names the devDependency's exact version", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    expect(pkg.dependencies[PACKAGE]).toBeUndefined()
    expect(pkg.devDependencies[PACKAGE]).toBe(IVS_SDK_VERSION)
    expect(JSON.parse(readFileSync(join(ROOT, 'node_modules', PACKAGE, 'package.json'), 'utf8')).version).toBe(IVS_SDK_VERSION)
    expect(IVS_SDK_URL).toBe(`https://web-broadcast.live-video.net/${IVS_SDK_VERSION}/amazon-ivs-web-broadcast.js`)
  })

  test("the executable's bundle takes no file of the package; the /watch page in it names only the CDN address", async () => {
    const result = await Bun.build({
      entrypoints: [join(ROOT, 'src/main.ts')],
      target: 'bun',
      format: 'esm',
      metafile: true,
      // The native addon is embedded by src/build.ts's plugin; it is not what this looks at.
      external: ['node-datachannel', '@node-datachannel/*'],
    })
    expect(result.success).toBe(true)
    const inputs = Object.keys(result.metafile!.inputs)
    // The bundle is the product (its packages, the /watch page) …
    expect(inputs).toContain('src/http/watch/watch.js')
    expect(inputs.some((input) => input.startsWith('node_modules/elysia/'))).toBe(true)
    // … and nothing of the SDK.
    expect(inputs.filter((input) => input.includes(PACKAGE))).toEqual([])
    const bundle = (await Promise.all(result.outputs.map((output) => output.text()))).join('\n')
    // (Booleans: a failure here must not print megabytes of bundle.)
    expect(bundle.includes('https://web-broadcast.live-video.net/')).toBe(true)
    const sdk = readFileSync(SDK_FILE, 'utf8')
    // Long pieces of the SDK's own file (its start, middle and end) appear nowhere in the bundle.
    const pieces = [0, Math.floor(sdk.length / 2), sdk.length - 400].map((at) => sdk.slice(at, at + 400))
    expect(pieces.map((piece) => piece.length === 400 && bundle.includes(piece))).toEqual([false, false, false])
    expect(pieces.every((piece) => piece.length === 400)).toBe(true)
  })
})
