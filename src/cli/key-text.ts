import type { PublicKeySummary } from '../ivs/public-keys'
import { formatAge, type KeyView, PUBLIC_KEY_QUOTA } from './key-policy'

/** What `ivs-fanout keys` prints: the listing, and the lines `rotate` hands over to deploy. */

export function listHeader(region: string, count: number, ttlMin: number): string {
  return `Public keys in ${region}: ${count} of the ${PUBLIC_KEY_QUOTA} IVS allows (longest token lifetime ${ttlMin} min)`
}

/** One key: ARN, name, age, made by ivs-fanout or not, in use; `*` marks the key in use. */
export function keyLine(view: KeyView, now: number): string {
  const age = view.createdAt === null ? 'age unknown' : `age ${formatAge(now - view.createdAt)}`
  const marker = view.inUse ? '*' : ' '
  return `${marker} ${[
    view.arn,
    `name ${view.name === '' ? '(none)' : view.name}`,
    age,
    view.managed ? 'managed by ivs-fanout' : 'not managed by ivs-fanout',
    ...(view.inUse ? ['IN USE (IVS_PUBLIC_KEY_ARN)'] : []),
  ].join('  ')}`
}

/**
 * The new key as .env lines, with the next steps as comments. The PEM goes on one line with `\n`
 * escapes, single-quoted so no .env reader (Bun, docker compose, systemd's EnvironmentFile, a shell)
 * changes it; serve turns the escapes back into newlines.
 */
export function envLines(input: { region: string; key: PublicKeySummary; privateKeyPem: string; oldArn: string | null; ttlMin: number }): string {
  const pem = input.privateKeyPem.trim().replace(/\r?\n/g, '\\n')
  const old = input.oldArn ?? '<the old key: ivs-fanout keys list>'
  return `# Imported ${input.key.arn} (name ${input.key.name}) into ${input.region}.
# 1. Deploy both lines to every serve instance (.env, secret store or EnvironmentFile) and restart them.
#    The private key is printed once and kept nowhere else: store it as a secret.
IVS_PUBLIC_KEY_ARN=${input.key.arn}
IVS_PRIVATE_KEY='${pem}\\n'
# 2. Wait the longest token lifetime (${input.ttlMin} min, PUBLISHER_TOKEN_TTL_MIN / VIEWER_TOKEN_TTL_MIN) after
#    the last instance switched: IVS checks a token when it is used to join, so tokens signed with the
#    old key keep working only while the old key exists.
# 3. Retire the old key: ivs-fanout keys retire ${old}
`
}
