import { CreateParticipantTokenCommand } from '@aws-sdk/client-ivs-realtime'
import { AppError } from '../errors'
import type { IvsRealTimeApi } from './aws-api'
import type { IssuedToken, TokenIssuer, TokenRequest } from './types'

/**
 * Participant tokens from IVS's CreateParticipantToken. IvsRealTimeApi paces the calls to IVS's
 * 50 TPS quota, so a burst of viewers waits in a FIFO queue instead of being throttled, and refuses
 * with 503 once the queue's wait would exceed its maximum.
 */
export class ApiTokenIssuer implements TokenIssuer {
  readonly strategy = 'api' as const

  constructor(private readonly api: IvsRealTimeApi) {}

  /** `request.participantId` is ignored: IVS picks the participant id. */
  async issue(request: TokenRequest): Promise<IssuedToken> {
    const input = {
      stageArn: request.stage.arn,
      userId: request.userId || undefined,
      attributes: Object.keys(request.attributes).length > 0 ? request.attributes : undefined,
      capabilities: request.capabilities,
      duration: request.durationMinutes,
    }
    const out = await this.api.call(
      'CreateParticipantToken',
      (abortSignal) => this.api.client.send(new CreateParticipantTokenCommand(input), { abortSignal }),
      { subject: `stage ${request.stage.arn}` },
    )
    const issued = out.participantToken
    if (!issued?.token || !issued.participantId || !issued.expirationTime) {
      throw new AppError('UPSTREAM_UNAVAILABLE', 'IVS answered CreateParticipantToken without a complete token')
    }
    return { token: issued.token, participantId: issued.participantId, expirationTime: issued.expirationTime.toISOString() }
  }
}
