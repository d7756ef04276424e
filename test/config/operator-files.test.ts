/** What an operator coming from the original documents meets first (issue 20 item 8). */
import { expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadServeConfig } from '../../src/config/serve'
import { BUN, bareEnv, freePort, spawnProcess } from '../support/process'

const ROOT = join(import.meta.dir, '..', '..')

test('serve warns when it is given relay settings (the wrong command was started), and still starts', () => {
  const result = loadServeConfig({ SERVER_ID: 'media-server-01', API_SERVER_URL: 'http://localhost:3000', PUBLISH_SECRET: 'publish-secret-0123456789' })
  if (!result.ok) throw new Error(result.errors.join())
  expect(result.config.warnings).toContain(
    'SERVER_ID, API_SERVER_URL, PUBLISH_SECRET are relay settings, read by `ivs-fanout relay` (npm run relay), not by this API server',
  )
  const plain = loadServeConfig({})
  expect(plain.ok && plain.config.warnings.join()).not.toContain('relay setting')
})

test('npm run relay starts the relay, not the API server', async () => {
  const p = spawnProcess(['npm', 'run', '--silent', 'relay'], bareEnv({ API_PORT: String(await freePort()) }))
  expect(await p.proc.exited).toBe(2)
  expect(p.stderr()).toContain('API_SECRET_KEY is required: the relay calls the API server with it')
  expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.relay).toBe(`bun run src/main.ts relay`)
  expect(BUN).toBeTruthy()
})

test('.gitignore keeps every .env file with secrets out of git, but not .env.example', () => {
  const check = (path: string) => Bun.spawnSync(['git', 'check-ignore', '-q', path], { cwd: ROOT }).exitCode === 0
  for (const path of ['.env', '.env.local', '.env.production', '.env.development.local'])
    expect({ path, ignored: check(path) }).toEqual({ path, ignored: true })
  expect(check('.env.example')).toBe(false)
})

test('LICENSE is the MIT licence package.json names, and CHANGELOG.md lists the changes', () => {
  expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).license).toBe('MIT')
  expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toStartWith('MIT License')
  expect(existsSync(join(ROOT, 'CHANGELOG.md'))).toBe(true)
  expect(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8')).toContain('API_ALLOWED_CIDRS')
})
