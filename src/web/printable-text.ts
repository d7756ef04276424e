import { t } from 'elysia'

/**
 * "Printable text": the rule for every free-text identifier the API stores or echoes (userId,
 * attribute keys and values, participantId, cursors, stage tags). Refused:
 * - C0 controls (NUL, TAB, CR, LF, ESC, …), DEL and C1 controls (U+0080–U+009F, e.g. NEL, CSI):
 *   they split log lines and headers and drive terminals;
 * - U+2028/U+2029 (line and paragraph separators: line breaks by another name);
 * - bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
 *   U+202A–U+202E, U+2066–U+2069): they make a name display as something it is not;
 * - invisible format characters (soft hyphen, zero-width space, word joiner, BOM, invisible
 *   operators, interlinear annotation): "admin" and "admin\u200b" would look the same;
 * - lone surrogates (broken UTF-16, which no UTF-8 encoder can carry).
 * Everything else is allowed (letters of any script, emoji, ZWJ sequences; ZWNJ, which Persian and
 * Indic scripts need). Lengths count Unicode
 * code points, not UTF-16 units: "👩🏽‍💻" is 4, "😀" is 1.
 */
const BIDI_CLASS = '\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069'
const INVISIBLE_CLASS = '\\u00ad\\u180e\\u200b\\u2060-\\u2064\\u206a-\\u206f\\ufeff\\ufff9-\\ufffb'
const REFUSED_CLASS = `\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029${BIDI_CLASS}${INVISIBLE_CLASS}`
const BIDI = new RegExp(`[${BIDI_CLASS}]`, 'u')
const REFUSED = new RegExp(`[${REFUSED_CLASS}]`, 'u')
/** C0, DEL, C1 and the two Unicode line breaks (the rest of REFUSED is bidi controls and invisible characters). */
const isControl = (c: number) => c <= 0x9f || c === 0x2028 || c === 0x2029
/**
 * One allowed code point: a character that is neither refused nor a surrogate, or a well-formed
 * surrogate pair. This means the same with and without the `u` flag (TypeBox, Elysia and most JSON
 * Schema tools compile `pattern` without it; some with it), so the OpenAPI document and the server agree.
 */
const CODE_POINT = `(?:[^${REFUSED_CLASS}\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])`

export interface TextLimits {
  /** Fewest code points (default 1). */
  min?: number
  /** Most code points. */
  max: number
}

export type TextProblem = 'not a string' | 'too short' | 'too long' | 'control character' | 'bidirectional control' | 'invisible character' | 'lone surrogate'

/** Length in Unicode code points (a lone surrogate counts as one). */
export function codePointLength(value: string): number {
  let n = 0
  for (const _ of value) n++
  return n
}

/** Why `value` is not printable text within the limits, or null when it is. */
export function printableTextProblem(value: unknown, { min = 1, max }: TextLimits): TextProblem | null {
  if (typeof value !== 'string') return 'not a string'
  if (!value.isWellFormed()) return 'lone surrogate'
  const match = REFUSED.exec(value)
  if (match) return isControl(match[0].codePointAt(0)!) ? 'control character' : BIDI.test(match[0]) ? 'bidirectional control' : 'invisible character'
  const length = codePointLength(value)
  if (length < min) return 'too short'
  if (length > max) return 'too long'
  return null
}

export const isPrintableText = (value: unknown, limits: TextLimits): value is string => printableTextProblem(value, limits) === null

/** A JSON Schema `pattern` for printable text of min–max code points (see CODE_POINT). */
export const printableTextPattern = ({ min = 1, max }: TextLimits) => `^${CODE_POINT}{${min},${max}}$`

/** "1-128 characters" / "at most 1024 characters". */
export const describeLimits = ({ min = 1, max }: TextLimits) => (min === 0 ? `at most ${max} characters` : `${min}-${max} characters`)

export const PRINTABLE_TEXT_RULE =
  'no control characters (NUL, tab, CR/LF, ESC, C1), no bidirectional marks, overrides or isolates, no invisible characters (zero-width space, BOM, soft hyphen), no lone surrogates'

/** The refusal message for one field: names it and says what to send instead. */
export const printableTextMessage = (field: string, limits: TextLimits) =>
  `${field} must be ${describeLimits(limits)} of printable text: ${PRINTABLE_TEXT_RULE}`

/**
 * A string schema for printable text of `limits` code points. The length lives in the pattern
 * (TypeBox's min/maxLength count UTF-16 units, which would refuse 128 emoji as 256 characters).
 * `error` names the field for the 400 VALIDATION_ERROR envelope.
 */
export function PrintableText(
  field: string,
  limits: TextLimits,
  options: { description?: string; example?: string; error?: string } = {},
): ReturnType<typeof t.String> {
  const rule = `${describeLimits(limits)} (Unicode code points) of printable text: ${PRINTABLE_TEXT_RULE}`
  return t.String({
    pattern: printableTextPattern(limits),
    error: options.error ?? printableTextMessage(field, limits),
    description: options.description ? `${options.description}; ${rule}` : rule,
    ...(options.example !== undefined ? { example: options.example } : {}),
  })
}
