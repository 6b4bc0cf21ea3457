import { ValidationError } from '../core/errors.js';

/**
 * A message body is kept exactly as sent or refused with 400, never changed. JSON.parse changes two
 * things silently: numbers a double cannot hold (1e400 becomes Infinity, then null; a 20-digit integer
 * loses digits) and nothing else we store. So before parsing, one pass over the request text checks
 * every number literal round-trips, and bounds the nesting (deep nesting costs stack everywhere a body
 * is walked). `__proto__` keys survive JSON.parse as own properties; the schemas keep the parsed object
 * as it is (see schemas.ts), so they are stored and returned like any other key.
 */

/** Message bodies and `ext` may nest this many levels (the object itself is level 1). */
export const MAX_BODY_DEPTH = 32;
/** The request envelope adds one level around `body` and `ext`. */
const MAX_REQUEST_DEPTH = MAX_BODY_DEPTH + 1;

export function checkJsonText(text: string): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i = endOfString(text, i);
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > MAX_REQUEST_DEPTH) {
        throw new ValidationError(`body: nested deeper than ${MAX_BODY_DEPTH} levels`);
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const end = endOfNumber(text, i);
      checkNumber(text.slice(i, end));
      i = end - 1;
    }
  }
}

function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22) return i;
  }
  return text.length;
}

function endOfNumber(text: string, start: number): number {
  let i = start;
  while (i < text.length && /[-+0-9.eE]/.test(text.charAt(i))) i++;
  return i;
}

/** A literal is kept exactly when the double it parses to prints back as the same decimal value. */
function checkNumber(literal: string): void {
  const value = Number(literal);
  if (Number.isNaN(value)) return; // not a number token: JSON.parse reports the syntax error
  if (!Number.isFinite(value) || decimalOf(literal) !== decimalOf(String(value))) {
    throw new ValidationError(
      `body: the number ${literal.slice(0, 40)} cannot be stored exactly (use a string for it)`,
    );
  }
}

/** A canonical form of a decimal literal: sign, significant digits, exponent (zero is "0"). */
function decimalOf(literal: string): string {
  const match = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(literal);
  if (!match) return literal;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  let digits = whole + fraction;
  let exp = Number(exponent) - fraction.length;
  const leading = digits.search(/[1-9]/);
  if (leading === -1) return '0';
  digits = digits.slice(leading);
  const trailing = digits.match(/0*$/)?.[0].length ?? 0;
  digits = digits.slice(0, digits.length - trailing);
  exp += trailing;
  return `${sign}${digits}e${exp}`;
}
