import { Elysia } from 'elysia'
import type { RelayService } from '../../fleet/relays'
import type { StageService } from '../../fleet/stages'
import { ok, responses } from '../../web/envelope'
import type { Authenticator } from '../auth'
import { iso } from '../schemas'
import { SECURITY } from '../security'
import { CreateStageBody, DeletedStage, MasterInfo, Stage, StageList, StageParams, stageJson, UpdateStageBody } from './model'

export function stageRoutes({ stages, relays, auth }: { stages: StageService; relays: RelayService; auth: Authenticator }) {
  return (
    new Elysia({ prefix: '/api/stage', tags: ['stages'] })
      // Auth runs before validation: an unauthenticated caller learns nothing about the schemas.
      .onTransform(({ headers }) => auth.requireApiKey(headers))
      .get('/list', async () => ok({ stages: (await stages.list()).map(stageJson) }), {
        response: responses(StageList),
        detail: { summary: 'List stages', description: 'Every stage of the fleet, in assignment order (the master first).', security: SECURITY.apiKey },
      })
      .get(
        '/master/info',
        async () => {
          const [stage, publisher] = await Promise.all([stages.master(), relays.publisherState()])
          return ok({
            stage: stageJson(stage),
            publisher: { active: publisher.active, updatedAt: iso(publisher.updatedAt), serverId: publisher.serverId, source: publisher.source ?? null },
          })
        },
        {
          response: responses(MasterInfo, [503]),
          detail: { summary: 'Master stage', description: "The publisher's stage and whether the relay reports a live publisher.", security: SECURITY.apiKey },
        },
      )
      .post('', async ({ body }) => ok(stageJson(await stages.create(body))), {
        body: CreateStageBody,
        response: responses(Stage, [409, 503]),
        detail: {
          summary: 'Create a stage',
          description:
            'Adds a stage to the fleet (counts toward MAX_STAGES; 409 CONFLICT when reached, `details.reason` `max-stages`, or `replication-quota` in FANOUT_MODE=replicate: the master and 5 replicas).',
          security: SECURITY.apiKey,
        },
      })
      .get('/:stageArn', async ({ params }) => ok(stageJson(await stages.require(params.stageArn))), {
        params: StageParams,
        response: responses(Stage, [404]),
        detail: { summary: 'Get a stage', description: 'One stage; the ARN is URL-encoded in the path.', security: SECURITY.apiKey },
      })
      .put('/:stageArn', async ({ params, body }) => ok(stageJson(await stages.rename(params.stageArn, body.name))), {
        params: StageParams,
        body: UpdateStageBody,
        response: responses(Stage, [404]),
        detail: { summary: 'Rename a stage', description: 'Changes the stage name at the provider and in the fleet.', security: SECURITY.apiKey },
      })
      .delete('/:stageArn', async ({ params }) => ok(await stages.delete(params.stageArn)), {
        params: StageParams,
        response: responses(DeletedStage, [404, 409]),
        detail: {
          summary: 'Delete a stage',
          description:
            'Deletes the stage at the provider; its viewers are removed (they rejoin on their next heartbeat). The master stage cannot be deleted (409).',
          security: SECURITY.apiKey,
        },
      })
  )
}
