import { describe, expect, test } from 'bun:test'
import { pageCsp } from '../../src/web/security-headers'

/** A CSP header as directive → its sources, in order. */
const directives = (csp: string) => csp.split('; ').map((d) => d.split(' '))

describe('pageCsp: our pages allow nothing unless listed', () => {
  test('the base policy (the relay publish page), and the dashboard’s style attributes', () => {
    expect(pageCsp()).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    )
    expect(pageCsp({ styleAttributes: true })).toBe(`${pageCsp()}; style-src-attr 'unsafe-inline'`)
  })

  test('scripts, connections and workers widen only their own directive', () => {
    const csp = pageCsp({ scripts: ['https://cdn.example'], connect: ['https://*.example', 'wss://*.example'], workers: ['blob:'] })
    const base = directives(pageCsp())
    const widened = directives(csp)
    expect(widened.slice(0, base.length).map((d) => d[0])).toEqual(base.map((d) => d[0]))
    for (const [name, ...sources] of widened.slice(0, base.length)) {
      const before = base.find((d) => d[0] === name)!.slice(1)
      const added = { 'script-src': ['https://cdn.example'], 'connect-src': ['https://*.example', 'wss://*.example'] }[name as string] ?? []
      expect([name, sources]).toEqual([name, [...before, ...added]])
    }
    expect(widened.slice(base.length)).toEqual([['worker-src', 'blob:']])
    // Empty lists change nothing.
    expect(pageCsp({ scripts: [], connect: [], workers: [] })).toBe(pageCsp())
  })
})
