import fc from 'fast-check';

/**
 * The values the fuzzer throws at every field, query key and path segment: edge cases first (fast-check
 * shrinks toward the first choice of a oneof), then anything at all.
 */

/** Field and query names the API knows (a new route's are found by random names too). */
export const FIELD_NAMES = [
  'to',
  'chatType',
  'type',
  'body',
  'ext',
  'text',
  'clientMsgId',
  'groupId',
  'name',
  'members',
  'msgId',
  'days',
  '__proto__',
] as const;

/** Strings that have broken parsers, key schemes and encoders before. */
const EDGE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud800y',
  '\u202eevil\u202c',
  '\u200f',
  '\ufeff',
  '\uffff',
  '😀',
  '𝕏'.repeat(64),
  '#',
  'a#b',
  'C#single#x',
  '/',
  '..',
  '../x',
  '\\',
  '~',
  '|',
  '%',
  '%00',
  '%2F',
  '\n',
  '\r\n',
  'null',
  'undefined',
  'true',
  '__proto__',
  'constructor',
  '<script>',
  "'",
  '"',
  ',',
  ',,',
  'a,a',
  'single',
  'group',
  '0',
  '-0',
  '-1',
  '1e400',
  'NaN',
  'Infinity',
] as const;

/** Ids at and past their limits: 1..128 characters of A-Z a-z 0-9 _ . @ : | + = - */
const idAtLimits = fc.oneof(
  fc.constantFrom(127, 128, 129, 1024).map((n) => 'a'.repeat(n)),
  fc.stringMatching(/^[A-Za-z0-9_.@:|+=-]{1,12}$/),
);

/** Message ids: valid ULIDs, the largest, past the largest, lower case, one short. */
export const ulidLike = fc.oneof(
  fc.constantFrom(
    '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    '00000000000000000000000000',
    '7ZZZZZZZZZZZZZZZZZZZZZZZZZ',
    '80000000000000000000000000',
    'ZZZZZZZZZZZZZZZZZZZZZZZZZZ',
    '01arz3ndektsv4rrffq69g5fav',
    '01ARZ3NDEKTSV4RRFFQ69G5FA',
    '01ARZ3NDEKTSV4RRFFQ69G5FAVX',
    '01ARZ3NDEKTSV4RRFFQ69G5FAU',
  ),
  fc.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
);

/** Strings of any UTF-16 code units, lone surrogates and NUL included. */
const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

export const fuzzString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EDGE_STRINGS) },
  { weight: 2, arbitrary: idAtLimits },
  { weight: 2, arbitrary: ulidLike },
  { weight: 2, arbitrary: anyUnits },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.constantFrom(4096, 65_536, 70_000).map((n) => 'x'.repeat(n)) },
);

/** Numbers at the bounds the API has (page sizes 20/50, days 36500, ULID time 2^48) and past them. */
export const fuzzNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    19,
    20,
    21,
    49,
    50,
    51,
    100,
    101,
    100_000,
    100_001,
    36_500,
    36_501,
    2 ** 31,
    2 ** 48 - 1,
    2 ** 48,
    2 ** 53,
    1.5,
    -1.5,
    1e21,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const digits = fc.oneof(
  fc.constantFrom('0', '1', '999999999999', '9999999999999', '000000000001'),
  fc.nat().map(String),
);

/**
 * Sync tokens, since cursors and list cursors in the shapes the service issues (base64url of
 * `t.{epoch}.{at}`, `c.{from}.{below}.{at}.{marker key}`, `{msgId}#{type}#{convId}`), with fuzzed parts:
 * they pass the first checks and reach the store.
 */
const forgedToken = fc
  .oneof(
    fc.tuple(digits, digits).map(([epoch, at]) => `t.${epoch}.${at}`),
    fc
      .tuple(digits, digits, digits, fc.integer({ min: 0, max: 10 ** 12 - 1 }), fuzzString)
      .map(
        ([from, below, at, epoch, conv]) =>
          `c.${from}.${below}.${at}.E${String(epoch).padStart(12, '0')}#C#single#${conv}`,
      ),
    fc
      .tuple(ulidLike, fc.constantFrom('single', 'group', 'x'), fuzzString)
      .map(([id, type, conv]) => `${id}#${type}#${conv}`),
  )
  .map((text) => Buffer.from(text).toString('base64url'));

/** Query values: numbers as text in every spelling, forged tokens, and strings. */
export const fuzzQueryValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(' 5', '5 ', '+5', '0x10', '00020', '1e3', '1.0', '9'.repeat(400), '-0', '1,2', ''),
  fuzzNumber.map(String),
  forgedToken,
  fuzzString,
);

/** Any JSON value, with the edge strings and numbers inside. */
export const fuzzJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fuzzString,
    fuzzNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fuzzString, fc.constantFrom(...FIELD_NAMES)), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** JSON nested `depth` levels: the limit is 32 for a message body. */
export const deepJson = fc.tuple(fc.integer({ min: 30, max: 40 }), fc.boolean()).map(([depth, arrays]) => {
  let value: unknown = 'bottom';
  for (let i = 1; i < depth; i++) value = arrays ? [value] : { d: value };
  return { text: value };
});

export const QUERY_KEYS = [
  'pageSize',
  'pageNum',
  'limit',
  'cursor',
  'since',
  'startMsgId',
  'direction',
  'types',
  'from',
  'startTime',
  'endTime',
  'msgIds',
  'before',
  'deleteMessages',
  'pinned',
  'mark',
] as const;

/** Request bodies that are not JSON, or are JSON of the wrong kind, as text. */
export const malformedBodyText = fc.constantFrom(
  '{',
  '{"to": ',
  '[',
  'nul',
  '{"to":"x",}',
  "{'to':'x'}",
  '\u0000',
  '{"a":1}{"a":2}',
  '{"to":"a","to":"b","chatType":"single","type":"text","body":{"text":"x"}}',
  '{"days":30,"days":null}',
  'true',
  '1',
  '"text"',
  '[]',
  'null',
  '{"body":{"n":1e400}}',
  '{"body":{"n":12345678901234567890}}',
  '{"days":1e400}',
  '{"days":-0}',
  '\ufeff{}',
  '{"\\ud800":"\\udfff"}',
  '{"text":"\\u0000"}',
);

export const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'application/merge-patch+json',
  'application/jsonx',
  'text/plain',
  'multipart/form-data; boundary=x',
  '',
] as const;
