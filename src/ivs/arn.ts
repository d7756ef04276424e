/** IVS ARNs: what a stage ARN and a public-key ARN look like, and the parts we read from them. */
export const STAGE_ARN_PATTERN = /^arn:aws:ivs:[a-z0-9-]+:\d{12}:stage\/[A-Za-z0-9]{12}$/
export const PUBLIC_KEY_ARN_PATTERN = /^arn:aws:ivs:[a-z0-9-]+:\d{12}:public-key\/[A-Za-z0-9]{12}$/

/** The stage id: the last segment of its ARN (the token's `topic`). */
export function stageIdOf(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1)
}
