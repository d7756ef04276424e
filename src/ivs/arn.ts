/**
 * IVS ARNs: what a stage ARN and a public-key ARN look like, and the parts we read from them.
 * IVS real-time exists in AWS's commercial partition only (`arn:aws:`): its API's own models take
 * `arn:aws:ivs:…` ARNs, and no China, GovCloud or isolated region offers it. The configuration,
 * `iam-policy` and the tests all hold to that one partition.
 */
export const IVS_PARTITION = 'aws'
export const STAGE_ARN_PATTERN = /^arn:aws:ivs:[a-z0-9-]+:\d{12}:stage\/[A-Za-z0-9]{12}$/
export const PUBLIC_KEY_ARN_PATTERN = /^arn:aws:ivs:[a-z0-9-]+:\d{12}:public-key\/[A-Za-z0-9]{12}$/

/** A region of another partition (China, GovCloud, the isolated regions), where IVS real-time is not offered. */
export function outsideIvsPartition(region: string): boolean {
  return /^(cn|us-gov|us-iso[a-z]?|eu-iso[a-z]?)-/.test(region)
}

/** The stage id: the last segment of its ARN (the token's `topic`). */
export function stageIdOf(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1)
}
