import { createHash } from 'node:crypto'
import type { Server } from 'bun'

/**
 * Test-only CloudWatch endpoint for PutMetricData as the installed @aws-sdk/client-cloudwatch sends it:
 * JSON 1.0 (`POST /`, `Content-Type: application/x-amz-json-1.0`,
 * `X-Amz-Target: GraniteServiceVersion20100801.PutMetricData`, `x-amzn-query-mode: true`), SigV4-signed,
 * bodies ≥ 10 KB gzipped (`Content-Encoding: gzip`), timestamps as epoch seconds. It enforces the
 * API's per-call limits, so a publisher that exceeds them sees the error CloudWatch would return.
 * Anything else (another protocol after an SDK upgrade, say) is answered 400 and recorded, so tests fail.
 */
export const PUT_METRIC_DATA_TARGET = 'GraniteServiceVersion20100801.PutMetricData'
export const JSON_1_0 = 'application/x-amz-json-1.0'
const MAX_REQUEST_BYTES = 1_048_576
const MAX_DATA_PER_CALL = 1_000
const MAX_DIMENSIONS = 30
const MAX_NAME_LENGTH = 255
const MAX_DIMENSION_VALUE_LENGTH = 1_024
const UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
])

export interface ReceivedDatum {
  namespace: string
  metricName: string
  dimensions: Record<string, string>
  value: number | null
  unit: string | null
  /** Milliseconds since the epoch, or null when the datum had none. */
  timestamp: number | null
}

export interface ReceivedCall {
  target: string | null
  contentType: string | null
  contentEncoding: string | null
  /** The SDK's `amz-sdk-request` header, e.g. `attempt=2; max=3`. */
  attempt: string | null
  /** Body size as received (compressed when gzipped) and as JSON. */
  wireBytes: number
  jsonBytes: number
  namespace: string | null
  data: ReceivedDatum[]
  status: number
  /** Error code answered, null on success. */
  error: string | null
}

export type FailureKind = 'internal' | 'throttle'

export interface CloudWatchServer {
  url: string
  /** Every call received, answered or not, in order of arrival. */
  readonly calls: ReceivedCall[]
  /** The data of the calls that were answered with success, in order. */
  accepted(): ReceivedDatum[]
  /** Answers the next `count` calls after `after` further calls with an error (500 InternalServiceFault or 400 Throttling). */
  failNext(count: number, kind?: FailureKind, after?: number): void
  /** Holds every answer until the returned function is called. */
  hold(): () => void
  /** Resolves once `count` calls have arrived in total. */
  waitForCalls(count: number, timeoutMs?: number): Promise<void>
  reset(): void
  stop(): Promise<void>
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly queryCode: string,
    message: string,
  ) {
    super(message)
  }
}

const invalid = (message: string) => new RequestError(400, 'com.amazonaws.cloudwatch#InvalidParameterValueException', 'InvalidParameterValue;Sender', message)
const missing = (message: string) => new RequestError(400, 'com.amazonaws.cloudwatch#MissingRequiredParameterException', 'MissingParameter;Sender', message)
const FAILURES: Record<FailureKind, () => RequestError> = {
  internal: () => new RequestError(500, 'com.amazonaws.cloudwatch#InternalServiceFault', 'InternalServiceError;Receiver', 'Injected failure'),
  throttle: () => new RequestError(400, 'com.amazon.coral.availability#ThrottlingException', 'Throttling;Sender', 'Rate exceeded'),
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

function decodeBody(raw: Uint8Array<ArrayBuffer>, contentEncoding: string | null): Uint8Array {
  // Encodings are listed in the order they were applied; undo them last to first.
  const encodings = (contentEncoding ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e && e !== 'identity')
  let body: Uint8Array<ArrayBuffer> = raw
  for (const encoding of encodings.reverse()) {
    if (encoding !== 'gzip') throw invalid(`Unsupported Content-Encoding ${encoding}`)
    try {
      body = Bun.gunzipSync(body)
    } catch {
      throw invalid('Body is not valid gzip')
    }
  }
  return body
}

function checkSignature(request: Request, raw: Uint8Array): void {
  const authorization = request.headers.get('authorization') ?? ''
  if (!/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/monitoring\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.test(authorization)) {
    throw new RequestError(403, 'IncompleteSignatureException', 'IncompleteSignature;Sender', 'Missing or malformed SigV4 Authorization')
  }
  // Catches a body changed after signing (e.g. compressed after the hash was taken).
  const declared = request.headers.get('x-amz-content-sha256')
  if (declared && declared !== 'UNSIGNED-PAYLOAD' && declared !== createHash('sha256').update(raw).digest('hex')) {
    throw new RequestError(400, 'InvalidSignatureException', 'InvalidSignature;Sender', 'x-amz-content-sha256 does not match the body')
  }
}

function decodeDatum(namespace: string, value: unknown, index: number): ReceivedDatum {
  const where = `MetricData.member.${index + 1}`
  if (!isRecord(value)) throw invalid(`${where} must be an object`)
  if (typeof value.MetricName !== 'string' || value.MetricName === '') throw missing(`${where}.MetricName is required`)
  if (value.MetricName.length > MAX_NAME_LENGTH) throw invalid(`${where}.MetricName is longer than ${MAX_NAME_LENGTH}`)
  const dimensions: Record<string, string> = {}
  const rawDimensions = value.Dimensions ?? []
  if (!Array.isArray(rawDimensions)) throw invalid(`${where}.Dimensions must be a list`)
  if (rawDimensions.length > MAX_DIMENSIONS) throw invalid(`The collection ${where}.Dimensions must not have a size greater than ${MAX_DIMENSIONS}.`)
  for (const dimension of rawDimensions) {
    if (!isRecord(dimension) || typeof dimension.Name !== 'string' || typeof dimension.Value !== 'string')
      throw invalid(`${where}.Dimensions need Name and Value strings`)
    if (dimension.Name.length === 0 || dimension.Name.length > MAX_NAME_LENGTH)
      throw invalid(`${where} has a dimension name of ${dimension.Name.length} characters`)
    if (dimension.Value.length === 0 || dimension.Value.length > MAX_DIMENSION_VALUE_LENGTH)
      throw invalid(`${where} has a dimension value of ${dimension.Value.length} characters (1..${MAX_DIMENSION_VALUE_LENGTH})`)
    if (dimension.Name in dimensions) throw invalid(`${where} has the dimension ${dimension.Name} twice`)
    dimensions[dimension.Name] = dimension.Value
  }
  if (value.Value !== undefined && (typeof value.Value !== 'number' || !Number.isFinite(value.Value))) throw invalid(`${where}.Value must be a finite number`)
  if (value.Unit !== undefined && (typeof value.Unit !== 'string' || !UNITS.has(value.Unit)))
    throw invalid(`${where}.Unit ${String(value.Unit)} is not a StandardUnit`)
  if (value.Timestamp !== undefined && typeof value.Timestamp !== 'number') throw invalid(`${where}.Timestamp must be epoch seconds`)
  return {
    namespace,
    metricName: value.MetricName,
    dimensions,
    value: typeof value.Value === 'number' ? value.Value : null,
    unit: typeof value.Unit === 'string' ? value.Unit : null,
    timestamp: typeof value.Timestamp === 'number' ? Math.round(value.Timestamp * 1000) : null,
  }
}

function decodePutMetricData(body: unknown): { namespace: string; data: ReceivedDatum[] } {
  if (!isRecord(body)) throw invalid('Body must be a JSON object')
  const namespace = body.Namespace
  if (typeof namespace !== 'string' || namespace === '') throw missing('Namespace is required')
  if (namespace.startsWith('AWS/')) throw invalid('The value AWS/ for parameter Namespace is invalid.')
  if (!Array.isArray(body.MetricData) || body.MetricData.length === 0) throw missing('MetricData is required')
  if (body.MetricData.length > MAX_DATA_PER_CALL) throw invalid(`The collection MetricData must not have a size greater than ${MAX_DATA_PER_CALL}.`)
  return { namespace, data: body.MetricData.map((datum, i) => decodeDatum(namespace, datum, i)) }
}

export async function startCloudWatchServer(options: { port?: number } = {}): Promise<CloudWatchServer> {
  const calls: ReceivedCall[] = []
  const failures: { after: number; count: number; kind: FailureKind }[] = []
  let gate: Promise<void> | null = null
  const arrivals = new Set<() => void>()

  const nextFailure = (): RequestError | null => {
    const plan = failures[0]
    if (!plan) return null
    if (plan.after > 0) {
      plan.after--
      return null
    }
    if (--plan.count <= 0) failures.shift()
    return FAILURES[plan.kind]()
  }

  const answer = async (call: ReceivedCall, error: RequestError | null): Promise<Response> => {
    if (gate) await gate
    const requestId = crypto.randomUUID()
    if (!error) {
      call.status = 200
      return new Response('{}', { headers: { 'content-type': JSON_1_0, 'x-amzn-requestid': requestId } })
    }
    call.status = error.status
    call.error = error.queryCode.split(';')[0]!
    return new Response(JSON.stringify({ __type: error.type, message: error.message }), {
      status: error.status,
      headers: { 'content-type': JSON_1_0, 'x-amzn-requestid': requestId, 'x-amzn-query-error': error.queryCode },
    })
  }

  const handle = async (request: Request): Promise<Response> => {
    const raw = new Uint8Array(await request.arrayBuffer())
    const call: ReceivedCall = {
      target: request.headers.get('x-amz-target'),
      contentType: request.headers.get('content-type'),
      contentEncoding: request.headers.get('content-encoding'),
      attempt: request.headers.get('amz-sdk-request'),
      wireBytes: raw.byteLength,
      jsonBytes: 0,
      namespace: null,
      data: [],
      status: 0,
      error: null,
    }
    calls.push(call)
    for (const notify of arrivals) notify()
    try {
      if (request.method !== 'POST' || new URL(request.url).pathname !== '/')
        throw invalid(`Expected POST /, got ${request.method} ${new URL(request.url).pathname}`)
      if (call.contentType !== JSON_1_0) throw invalid(`Expected Content-Type ${JSON_1_0} (JSON 1.0), got ${call.contentType}: has the SDK changed protocol?`)
      if (call.target !== PUT_METRIC_DATA_TARGET)
        throw new RequestError(400, 'UnknownOperationException', 'UnknownOperation;Sender', `Unknown X-Amz-Target ${call.target}`)
      checkSignature(request, raw)
      if (raw.byteLength > MAX_REQUEST_BYTES) throw new RequestError(413, 'RequestEntityTooLarge', 'RequestEntityTooLarge;Sender', 'Request size exceeds 1 MB')
      const json = decodeBody(raw, call.contentEncoding)
      call.jsonBytes = json.byteLength
      if (json.byteLength > MAX_REQUEST_BYTES) throw new RequestError(413, 'RequestEntityTooLarge', 'RequestEntityTooLarge;Sender', 'Request size exceeds 1 MB')
      let body: unknown
      try {
        body = JSON.parse(new TextDecoder().decode(json))
      } catch {
        throw invalid('Body is not JSON')
      }
      const decoded = decodePutMetricData(body)
      call.namespace = decoded.namespace
      call.data = decoded.data
      return await answer(call, nextFailure())
    } catch (error) {
      if (error instanceof RequestError) return answer(call, error)
      throw error
    }
  }

  const server: Server<undefined> = Bun.serve({ port: options.port ?? 0, hostname: '127.0.0.1', fetch: handle })

  return {
    url: `http://127.0.0.1:${server.port}`,
    calls,
    accepted: () => calls.filter((c) => c.status === 200).flatMap((c) => c.data),
    failNext(count, kind = 'internal', after = 0) {
      failures.push({ after, count, kind })
    },
    hold() {
      let release!: () => void
      gate = new Promise<void>((resolve) => {
        release = resolve
      })
      return () => {
        gate = null
        release()
      }
    },
    waitForCalls(count, timeoutMs = 5_000) {
      if (calls.length >= count) return Promise.resolve()
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          arrivals.delete(check)
          reject(new Error(`expected ${count} CloudWatch calls within ${timeoutMs} ms, got ${calls.length}`))
        }, timeoutMs)
        const check = () => {
          if (calls.length < count) return
          clearTimeout(timer)
          arrivals.delete(check)
          resolve()
        }
        arrivals.add(check)
      })
    },
    reset() {
      calls.length = 0
      failures.length = 0
    },
    stop: () => server.stop(true),
  }
}
