import { t } from 'elysia'

/**
 * "Printable text": the rule for every free-text identifier the API stores or echoes (userId,
 * attribute keys and values, participantId, cursors, stage tags). Refused:
 * - C0 controls (NUL, TAB, CR, LF, ESC, …), DEL and C1 controls (U+0080–U+009F, e.g. NEL, CSI):
 *   they split log lines and headers and drive terminals;
 * - U+2028/U+2029 (line and paragraph separators: line breaks by another name);
 * - bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
 *   U+202A–U+202E, U+2066–U+2069): they make a name display as something it is not;
 * - characters that render as nothing: Unicode's default-ignorable code points (soft hyphen,
 *   combining grapheme joiner, zero-width space, word joiner, invisible operators, BOM, Hangul
 *   fillers, Khmer inherent vowels, tag characters U+E0000–U+E00FF, musical formatting
 *   U+1D173–U+1D17A, …) and U+2800 (braille blank), plus the interlinear annotation characters:
 *   "admin" and "admin" + U+E0041 would look the same;
 * - lone surrogates (broken UTF-16, which no UTF-8 encoder can carry);
 * - where at least one code point is required, a value of nothing visible (only spaces, joiners
 *   and variation selectors).
 * Allowed among the default-ignorables: ZWJ (emoji sequences, Indic scripts), ZWNJ (Persian,
 * Indic) and variation selectors (emoji presentation, CJK ideographic variants, Mongolian), which
 * scripts and emoji need. The subdivision flags written with tag characters (England, Scotland,
 * Wales) are refused with them. Lengths count Unicode code points, not UTF-16 units: "👩🏽‍💻" is 4, "😀" is 1.
 */
const BIDI_CLASS = '\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069'
const INVISIBLE_CLASS = '\\u00ad\\u034f\\u115f\\u1160\\u17b4\\u17b5\\u180e\\u200b\\u2060-\\u2065\\u206a-\\u206f\\u2800\\u3164\\ufeff\\uffa0\\ufff0-\\ufffb'
const REFUSED_CLASS = `\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029${BIDI_CLASS}${INVISIBLE_CLASS}`
/** The default-ignorable code points past U+FFFF, bar the variation selectors (U+E0100–U+E01EF), as code points and as UTF-16. */
const ASTRAL_INVISIBLE = '\\u{1bca0}-\\u{1bca3}\\u{1d173}-\\u{1d17a}\\u{e0000}-\\u{e00ff}\\u{e01f0}-\\u{e0fff}'
const ASTRAL_INVISIBLE_UTF16 = '\\ud82f[\\udca0-\\udca3]|\\ud834[\\udd73-\\udd7a]|\\udb40[\\udc00-\\udcff\\uddf0-\\udfff]|[\\udb41-\\udb43][\\udc00-\\udfff]'
/** What renders as nothing and is allowed (spaces, ZWNJ, ZWJ, variation selectors): a value of only these is blank. */
const BLANK_CLASS = '\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000\\u200c\\u200d\\u180b-\\u180d\\u180f\\ufe00-\\ufe0f'
const BIDI = new RegExp(`[${BIDI_CLASS}]`, 'u')
const REFUSED = new RegExp(`[${REFUSED_CLASS}${ASTRAL_INVISIBLE}]`, 'u')
const BLANK = new RegExp(`^[${BLANK_CLASS}\\u{e0100}-\\u{e01ef}]*$`, 'u')
/** C0, DEL, C1 and the two Unicode line breaks (the rest of REFUSED is bidi controls and invisible characters). */
const isControl = (c: number) => c <= 0x9f || c === 0x2028 || c === 0x2029
/**
 * One allowed code point, meaning the same with and without the `u` flag (TypeBox, Elysia and most
 * JSON Schema tools compile `pattern` without it; some with it), so the OpenAPI document and the
 * server agree. Three alternatives: a character up to U+FFFF that is neither refused nor a surrogate
 * (`(?![^\u0000-\uffff])` keeps it there with the flag; without it no UTF-16 unit is above U+FFFF);
 * a well-formed surrogate pair not of a refused code point (without the flag; with it a pair is one
 * code point, which no pair of surrogate ranges matches); a code point above U+FFFF that is a
 * variation selector or not default-ignorable (with the flag; without it `[^\u0000-\uffff]`
 * matches nothing, so its `\p{…}`, read there as the letters "p{…}", never counts).
 */
const CODE_POINT = `(?:(?![^\\u0000-\\uffff])[^${REFUSED_CLASS}\\ud800-\\udfff]|(?!${ASTRAL_INVISIBLE_UTF16})[\\ud800-\\udbff][\\udc00-\\udfff]|(?=\\p{Variation_Selector}|\\P{Default_Ignorable_Code_Point})[^\\u0000-\\uffff])`
/** One blank code point, in the same three forms (the variation selectors past U+FFFF are U+E0100–U+E01EF). */
const BLANK_POINT = `(?:[${BLANK_CLASS}]|\\udb40[\\udd00-\\uddef]|(?=\\p{Variation_Selector})[^\\u0000-\\uffff])`

export interface TextLimits {
  /** Fewest code points (default 1). */
  min?: number
  /** Most code points. */
  max: number
}

export type TextProblem =
  | 'not a string'
  | 'too short'
  | 'too long'
  | 'control character'
  | 'bidirectional control'
  | 'invisible character'
  | 'lone surrogate'
  | 'nothing visible'

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
  if (min >= 1 && BLANK.test(value)) return 'nothing visible'
  return null
}

export const isPrintableText = (value: unknown, limits: TextLimits): value is string => printableTextProblem(value, limits) === null

/** A JSON Schema `pattern` for printable text of min–max code points (see CODE_POINT); with min ≥ 1, not all blank. */
export const printableTextPattern = ({ min = 1, max }: TextLimits) => `^${min >= 1 ? `(?!${BLANK_POINT}*$)` : ''}${CODE_POINT}{${min},${max}}$`

/** "1-128 characters" / "at most 1024 characters". */
export const describeLimits = ({ min = 1, max }: TextLimits) => (min === 0 ? `at most ${max} characters` : `${min}-${max} characters`)

export const PRINTABLE_TEXT_RULE =
  'no control characters (NUL, tab, CR/LF, ESC, C1), no bidirectional marks, overrides or isolates, no invisible characters (zero-width space, BOM, soft hyphen, tag characters, Hangul fillers, braille blank), no lone surrogates, and not only spaces'

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
