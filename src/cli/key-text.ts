import type { PublicKeySummary } from '../ivs/public-keys'
import { describeLifetime, formatAge, type KeyView, PUBLIC_KEY_QUOTA, type TokenLifetime, WAIT_FROM } from './key-policy'

/** What `ivs-fanout keys` prints: the listing, and the lines `rotate` hands over to deploy. */

export function listHeader(region: string, count: number, lifetime: TokenLifetime): string {
  return `Public keys in ${region}: ${count} of the ${PUBLIC_KEY_QUOTA} IVS allows (longest token lifetime ${lifetime.minutes} min)`
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
 * The new key as .env lines, with the next steps as comments. Given a file, the PEM is in it and
 * IVS_PRIVATE_KEY names it; else the PEM goes on one line with `\n` escapes,
 * single-quoted so no .env reader (Bun, docker compose, systemd's EnvironmentFile, a shell) changes
 * it; serve turns the escapes back into newlines.
 */
export function envLines(input: {
  region: string
  key: PublicKeySummary
  /** The private key to print, or the file `rotate` wrote it to. */
  privateKey: { pem: string } | { file: string }
  oldArn: string | null
  lifetime: TokenLifetime
}): string {
  const old = input.oldArn ?? '<the old key: ivs-fanout keys list>'
  const [where, value] =
    'pem' in input.privateKey
      ? [
          `#    The private key is printed once and kept nowhere else: store it as a secret (--private-key-file PATH
#    writes it to a file of mode 0600 instead, out of your scrollback and logs).`,
          `'${input.privateKey.pem.trim().replace(/\r?\n/g, '\\n')}\\n'`,
        ]
      : [
          `#    The private key is in ${input.privateKey.file} (mode 0600) and nowhere else: copy it to that path on
#    every instance, readable by serve's user only (chmod 600), or store its content as a secret.`,
          envValue(input.privateKey.file),
        ]
  return `# Imported ${input.key.arn} (name ${input.key.name}) into ${input.region}.
# 1. Deploy both lines to every serve instance (.env, secret store or EnvironmentFile) and restart them.
${where}
IVS_PUBLIC_KEY_ARN=${input.key.arn}
IVS_PRIVATE_KEY=${value}
# 2. Wait ${describeLifetime(input.lifetime)}
#    after the last instance switched: ${WAIT_FROM}. IVS checks a token when it is used
#    to join, so tokens signed with the old key keep working only while the old key exists.
# 3. Retire the old key: ivs-fanout keys retire ${old}
`
}

/** A path as a .env value: as it is when plain, else single-quoted (keys.ts refuses paths holding a quote or newline). */
export function envValue(path: string): string {
  return /^[A-Za-z0-9_./@:+,=-]+$/.test(path) ? path : `'${path}'`
}
