import { describe, expect, test } from 'bun:test'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import {
  codePointLength,
  isPrintableText,
  PrintableText,
  printableTextMessage,
  printableTextPattern,
  printableTextProblem,
  type TextProblem,
} from '../../src/web/printable-text'

const USER = { min: 1, max: 128 }
const EMOJI = '😀'
const CODER = '👩🏽‍💻' // woman, skin tone, ZWJ, laptop: 4 code points, 7 UTF-16 units

const GOOD = [
  'José',
  '山田',
  CODER,
  'Ελένη',
  'مريم',
  'שלום',
  'Zoë O’Brien',
  'a b',
  'x\u00a0y',
  'zw\u200cnj',
  'tab-less',
  '<b>&"\'</b>',
  '\ufffd',
  'é',
  // Emoji with variation selectors and joiners, flags, keycaps; a CJK ideographic variant; Mongolian with a variation selector.
  '❤️',
  '1️⃣',
  '👨‍👩‍👧',
  '🇫🇷',
  '🏳️‍🌈',
  '葛\u{e0100}城',
  'ᠮᠣᠩᠭᠣᠯ\u180b',
  ' leading and trailing ',
  'a\u3000b',
]

const BAD: [string, string, TextProblem][] = [
  ['NUL', 'a\u0000b', 'control character'],
  ['CR', 'a\rb', 'control character'],
  ['LF', 'a\nb', 'control character'],
  ['TAB', 'a\tb', 'control character'],
  ['ESC', 'a\u001b[2Jb', 'control character'],
  ['DEL', 'a\u007fb', 'control character'],
  ['C1 U+0080', 'a\u0080b', 'control character'],
  ['C1 NEL U+0085', 'a\u0085b', 'control character'],
  ['C1 CSI U+009B', 'a\u009bb', 'control character'],
  ['C1 U+009F', 'a\u009fb', 'control character'],
  ['LINE SEPARATOR U+2028', 'a\u2028b', 'control character'],
  ['PARAGRAPH SEPARATOR U+2029', 'a\u2029b', 'control character'],
  ['ALM U+061C', 'a\u061cb', 'bidirectional control'],
  ['LRM U+200E', 'a\u200eb', 'bidirectional control'],
  ['RLM U+200F', 'a\u200fb', 'bidirectional control'],
  ['LRE U+202A', 'a\u202ab', 'bidirectional control'],
  ['RLO U+202E', 'a\u202eb', 'bidirectional control'],
  ['LRI U+2066', 'a\u2066b', 'bidirectional control'],
  ['PDI U+2069', 'a\u2069b', 'bidirectional control'],
  ['zero-width space U+200B', 'admin\u200b', 'invisible character'],
  ['BOM U+FEFF', '\ufeffadmin', 'invisible character'],
  ['soft hyphen U+00AD', 'ad\u00admin', 'invisible character'],
  ['word joiner U+2060', 'ad\u2060min', 'invisible character'],
  ['interlinear annotation U+FFF9', 'a\ufff9b', 'invisible character'],
  ['tag character U+E0041 (admin + tag A shows as admin)', 'admin\u{e0041}', 'invisible character'],
  ['language tag U+E0001', 'admin\u{e0001}', 'invisible character'],
  ['cancel tag U+E007F', '\u{e007f}admin', 'invisible character'],
  ['England flag (black flag + tag characters)', '🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}', 'invisible character'],
  ['reserved default-ignorable U+E0FFF', 'a\u{e0fff}b', 'invisible character'],
  ['musical invisible formatting U+1D173', 'a\u{1d173}b', 'invisible character'],
  ['musical invisible formatting U+1D17A', 'a\u{1d17a}b', 'invisible character'],
  ['shorthand format control U+1BCA0', 'a\u{1bca0}b', 'invisible character'],
  ['Hangul choseong filler U+115F', 'a\u115fb', 'invisible character'],
  ['Hangul jungseong filler U+1160', 'a\u1160b', 'invisible character'],
  ['Hangul filler U+3164', 'a\u3164b', 'invisible character'],
  ['halfwidth Hangul filler U+FFA0', 'a\uffa0b', 'invisible character'],
  ['braille blank U+2800', 'admin\u2800', 'invisible character'],
  ['combining grapheme joiner U+034F', 'ad\u034fmin', 'invisible character'],
  ['Khmer inherent vowel U+17B4', 'a\u17b4b', 'invisible character'],
  ['default-ignorable U+2065', 'a\u2065b', 'invisible character'],
  ['default-ignorable U+FFF0', 'a\ufff0b', 'invisible character'],
  ['a space only', ' ', 'nothing visible'],
  ['spaces only', '   ', 'nothing visible'],
  ['no-break space only', '\u00a0', 'nothing visible'],
  ['ideographic and en spaces only', '\u3000\u2002', 'nothing visible'],
  ['a ZWJ only', '\u200d', 'nothing visible'],
  ['a variation selector only', '\ufe0f', 'nothing visible'],
  ['spaces and a ZWNJ', ' \u200c ', 'nothing visible'],
  ['an ideographic variation selector only', '\u{e0100}', 'nothing visible'],
  ['a Mongolian variation selector only', '\u180b', 'nothing visible'],
  ['lone high surrogate', 'a\ud800b', 'lone surrogate'],
  ['lone high surrogate at the end', 'ab\udbff', 'lone surrogate'],
  ['lone low surrogate', 'a\udc00b', 'lone surrogate'],
  ['swapped pair', 'a\ude00\ud83db', 'lone surrogate'],
]

describe('printableTextProblem', () => {
  test('other scripts, emoji, ZWJ/ZWNJ, NBSP and punctuation are printable', () => {
    for (const value of GOOD) expect({ value, problem: printableTextProblem(value, USER) }).toEqual({ value, problem: null })
  })

  test('each refused class is named', () => {
    for (const [label, value, problem] of BAD) expect({ label, problem: printableTextProblem(value, USER) }).toEqual({ label, problem })
  })

  test('lengths are code points, not UTF-16 units', () => {
    expect(codePointLength(EMOJI.repeat(128))).toBe(128)
    expect(EMOJI.repeat(128).length).toBe(256)
    expect(codePointLength(CODER)).toBe(4)
    expect(isPrintableText(EMOJI.repeat(128), USER)).toBe(true)
    expect(printableTextProblem(EMOJI.repeat(129), USER)).toBe('too long')
    expect(isPrintableText(CODER.repeat(32), USER)).toBe(true)
    expect(printableTextProblem(`${CODER.repeat(32)}x`, USER)).toBe('too long')
    expect(printableTextProblem('', USER)).toBe('too short')
    expect(printableTextProblem('', { min: 0, max: 4 })).toBeNull()
    // A value that may be empty may be blank too: only where something is required must it be visible.
    expect(printableTextProblem('  ', { min: 0, max: 4 })).toBeNull()
    expect(printableTextProblem('  ', { min: 1, max: 4 })).toBe('nothing visible')
    expect(printableTextProblem(42, USER)).toBe('not a string')
  })

  test('the message names the field and says what to fix', () => {
    const message = printableTextMessage('userId', USER)
    expect(message).toStartWith('userId must be 1-128 characters of printable text')
    expect(message).toContain('no control characters')
    expect(message).toContain('no bidirectional')
    expect(printableTextMessage('tags value', { min: 0, max: 256 })).toStartWith('tags value must be at most 256 characters')
  })
})

/** Code points around every edge of the rule, plus both surrogate halves on their own. */
const EDGES = [
  0x00, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x20, 0x41, 0x7e, 0x7f, 0x80, 0x85, 0x9b, 0x9f, 0xa0, 0xe9, 0x61b, 0x61c, 0x61d, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f,
  0x2010, 0x2027, 0x2028, 0x2029, 0x202a, 0x202e, 0x202f, 0x2065, 0x2066, 0x2069, 0x206a, 0x5c71, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfeff,
  0xfffd, 0xffff, 0x10000, 0x1f600, 0x1f469, 0x10ffff,
  // Around the default-ignorables, the blanks and the variation selectors.
  0x34e, 0x34f, 0x115f, 0x1160, 0x1161, 0x17b4, 0x180a, 0x180b, 0x180e, 0x180f, 0x1810, 0x2000, 0x200a, 0x2800, 0x3000, 0x3164, 0xfe00, 0xfe0f, 0xfe10, 0xffa0,
  0xfff0, 0x1bca0, 0x1bca4, 0x1d172, 0x1d173, 0x1d17a, 0x1d17b, 0xdffff, 0xe0000, 0xe0041, 0xe007f, 0xe00ff, 0xe0100, 0xe01ef, 0xe01f0, 0xe0fff, 0xe1000,
]
const unit = (c: number) => (c <= 0xffff ? String.fromCharCode(c) : String.fromCodePoint(c))
const isSurrogate = (c: number) => c >= 0xd800 && c <= 0xdfff

function* corpus(): Generator<string> {
  yield* GOOD
  for (const [, value] of BAD) yield value
  for (const c of EDGES) yield `a${unit(c)}b`
  for (const n of [0, 1, 2, 5, 6, 7]) yield EMOJI.repeat(n)
  // Deterministic pseudo-random strings over the edges (xorshift), so lone and paired surrogates mix.
  let seed = 0x9e3779b9
  const next = () => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return seed >>> 0
  }
  for (let i = 0; i < 5000; i++) {
    let s = ''
    const length = next() % 8
    for (let j = 0; j < length; j++) s += unit(EDGES[next() % EDGES.length]!)
    yield s
  }
}

describe('the schema pattern agrees with the rule', () => {
  const limits = { min: 1, max: 6 }
  const pattern = printableTextPattern(limits)

  test('without the u flag (TypeBox, Elysia) and with it (JSON Schema tools)', () => {
    const plain = new RegExp(pattern)
    const unicode = new RegExp(pattern, 'u')
    const disagree: string[] = []
    for (const value of corpus()) {
      const expected = isPrintableText(value, limits)
      if (plain.test(value) !== expected || unicode.test(value) !== expected) disagree.push(JSON.stringify(value))
    }
    expect(disagree).toEqual([])
  })

  test('every code point, inside a value and alone, without the u flag and with it', () => {
    const plain = new RegExp(pattern)
    const unicode = new RegExp(pattern, 'u')
    const disagree: string[] = []
    for (let c = 0; c <= 0x10ffff; c++) {
      if (isSurrogate(c)) continue
      for (const value of [`a${unit(c)}b`, unit(c)]) {
        const expected = isPrintableText(value, limits)
        if (plain.test(value) !== expected || unicode.test(value) !== expected) disagree.push(`U+${c.toString(16)} in ${JSON.stringify(value)}`)
      }
    }
    expect(disagree.slice(0, 20)).toEqual([])
  })

  test('the compiled Elysia schema (as the server validates) accepts and refuses the same values', () => {
    const check = TypeCompiler.Compile(PrintableText('userId', USER))
    for (const value of [...GOOD, EMOJI.repeat(128), CODER.repeat(32)]) expect({ value, ok: check.Check(value) }).toEqual({ value, ok: true })
    for (const value of [...BAD.map(([, v]) => v), EMOJI.repeat(129), '', 'x'.repeat(129)])
      expect({ value, ok: check.Check(value) }).toEqual({ value, ok: false })
    expect(PrintableText('userId', USER).error).toBe(printableTextMessage('userId', USER))
  })
})

describe("nothing that renders as nothing (Unicode's own lists, as this engine has them)", () => {
  const of = (c: number) => String.fromCodePoint(c)
  const DEFAULT_IGNORABLE = /^\p{Default_Ignorable_Code_Point}$/u
  const VARIATION_SELECTOR = /^\p{Variation_Selector}$/u
  const WHITE_SPACE = /^\p{White_Space}$/u

  test('every default-ignorable code point is refused, but ZWJ, ZWNJ and the variation selectors (which emoji and scripts need)', () => {
    const allowed: string[] = []
    for (let c = 0; c <= 0x10ffff; c++) {
      if (isSurrogate(c) || !DEFAULT_IGNORABLE.test(of(c))) continue
      const problem = printableTextProblem(`a${of(c)}b`, USER)
      const needed = c === 0x200c || c === 0x200d || VARIATION_SELECTOR.test(of(c))
      if ((problem === null) !== needed) allowed.push(`U+${c.toString(16)}: ${problem}`)
    }
    expect(allowed).toEqual([])
  })

  test('a value of white space and those alone is refused as nothing visible; one visible character is enough', () => {
    const blanks: number[] = []
    for (let c = 0; c <= 0x10ffff; c++) {
      if (isSurrogate(c)) continue
      const ch = of(c)
      if ((WHITE_SPACE.test(ch) && printableTextProblem(ch, USER) !== 'control character') || c === 0x200c || c === 0x200d || VARIATION_SELECTOR.test(ch))
        blanks.push(c)
    }
    expect(blanks.length).toBeGreaterThan(270)
    for (const c of blanks) {
      expect({ c, problem: printableTextProblem(of(c).repeat(3), USER) }).toEqual({ c, problem: 'nothing visible' })
      expect({ c, problem: printableTextProblem(`${of(c)}x${of(c)}`, USER) }).toEqual({ c, problem: null })
    }
  })
})
