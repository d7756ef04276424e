import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ComposeService {
  image: string
  command?: string[]
  environment?: Record<string, string | null>
  network_mode?: string
  restart?: string
  ports?: string[]
}

/** docker-compose.yml (or another compose file of the repository), parsed; YAML anchors and merges resolved by Bun's parser. */
export function composeFile(name = 'docker-compose.yml'): { services: Record<string, ComposeService> } {
  return Bun.YAML.parse(readFileSync(join(import.meta.dir, '..', '..', name), 'utf8')) as { services: Record<string, ComposeService> }
}

/** Compose-style interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error} (what docker-compose.yml uses). */
export function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, arg?: string) => {
    const set = vars[name]
    if (set !== undefined && set !== '') return set
    if (kind === '?') throw new Error(`${name}: ${arg}`)
    return kind === '-' ? (arg ?? '') : ''
  })
}

/** A service's environment as its container gets it from `vars` (a .env), empty values left out (they count as unset). */
export function renderedEnvironment(service: ComposeService, vars: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(service.environment ?? {})) {
    const rendered = interpolate(value ?? '', vars)
    if (rendered !== '') out[name] = rendered
  }
  return out
}
