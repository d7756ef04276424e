import type { StageEndpoints } from '../store/types'

export interface ProviderStage {
  arn: string
  name: string
  tags: Record<string, string>
  endpoints: StageEndpoints
}

/** Where stages live: AWS IVS, or the embedded local provider. */
export interface StageProvider {
  readonly kind: 'aws' | 'local'
  createStage(input: { name: string; tags: Record<string, string> }): Promise<ProviderStage>
  /** null when the stage does not exist. */
  getStage(arn: string): Promise<ProviderStage | null>
  updateStage(arn: string, input: { name: string }): Promise<ProviderStage>
  /** Deleting a stage that is already gone is not an error. */
  deleteStage(arn: string): Promise<void>
  /** Every stage, or only those carrying all the given tags. */
  listStages(filter?: { tags?: Record<string, string> }): Promise<ProviderStage[]>
  /** Throws when the provider cannot be reached. */
  ping(): Promise<void>
  /** Participants publishing in the stage's current session, or null when the provider cannot tell (local stages). */
  publishingParticipants(stageArn: string): Promise<number | null>
}

export type Capability = 'PUBLISH' | 'SUBSCRIBE'

export interface TokenRequest {
  /** Self-signed tokens use it as `jti`; IVS's API picks its own. */
  participantId?: string
  stage: { arn: string; endpoints: StageEndpoints }
  userId: string
  attributes: Record<string, string>
  capabilities: Capability[]
  durationMinutes: number
}

export interface IssuedToken {
  token: string
  participantId: string
  expirationTime: string
}

/** Issues IVS participant tokens: self-signed ES384 JWTs, or CreateParticipantToken calls. */
export interface TokenIssuer {
  readonly strategy: 'self-signed' | 'api'
  issue(request: TokenRequest): Promise<IssuedToken>
}
