/**
 * The subset of RFC 8941 Structured Field Values needed for the IETF `RateLimit` and
 * `RateLimit-Policy` fields: Lists and Dictionaries of Items with Parameters. Strings and Tokens
 * both come back as strings; Byte Sequences as their base64 text. Invalid input yields undefined,
 * as RFC 8941 §4.2 requires (the whole field is ignored, never half-parsed).
 */

export type SfBareItem = string | number | boolean;
export type SfParameters = Readonly<Record<string, SfBareItem>>;

export interface SfItem {
  readonly value: SfBareItem;
  readonly params: SfParameters;
}

export interface SfMember extends SfItem {
  readonly key: string;
}

interface Cursor {
  readonly text: string;
  pos: number;
}

/** Parses a List (RFC 8941 §4.2.1), e.g. `"default";r=50;t=30, "daily";r=900`. */
export function parseSfList(text: string): SfItem[] | undefined {
  const cursor: Cursor = { text, pos: 0 };
  const items: SfItem[] = [];
  skipSpaces(cursor);
  if (cursor.pos >= text.length) return items;
  for (;;) {
    const item = parseItem(cursor);
    if (item === undefined) return undefined;
    items.push(item);
    const separator = readSeparator(cursor);
    if (separator === 'end') return items;
    if (separator === 'invalid') return undefined;
  }
}

/** Parses a Dictionary (RFC 8941 §4.2.2), e.g. `limit=100, remaining=50, reset=30`. */
export function parseSfDictionary(text: string): SfMember[] | undefined {
  const cursor: Cursor = { text, pos: 0 };
  const members: SfMember[] = [];
  skipSpaces(cursor);
  if (cursor.pos >= text.length) return members;
  for (;;) {
    const key = parseKey(cursor);
    if (key === undefined) return undefined;
    let value: SfBareItem = true;
    if (text.charCodeAt(cursor.pos) === 61 /* = */) {
      cursor.pos++;
      const bare = parseBareItem(cursor);
      if (bare === undefined) return undefined;
      value = bare;
    }
    const params = parseParameters(cursor);
    if (params === undefined) return undefined;
    members.push({ key, value, params });
    const separator = readSeparator(cursor);
    if (separator === 'end') return members;
    if (separator === 'invalid') return undefined;
  }
}

type Separator = 'end' | 'next' | 'invalid';

/** Consumes `OWS "," OWS` between members; a trailing comma is invalid. */
function readSeparator(cursor: Cursor): Separator {
  skipOptionalWhitespace(cursor);
  if (cursor.pos >= cursor.text.length) return 'end';
  if (cursor.text.charCodeAt(cursor.pos) !== 44 /* , */) return 'invalid';
  cursor.pos++;
  skipOptionalWhitespace(cursor);
  return cursor.pos >= cursor.text.length ? 'invalid' : 'next';
}

function parseItem(cursor: Cursor): SfItem | undefined {
  const value = parseBareItem(cursor);
  if (value === undefined) return undefined;
  const params = parseParameters(cursor);
  if (params === undefined) return undefined;
  return { value, params };
}

function parseParameters(cursor: Cursor): SfParameters | undefined {
  const params: Record<string, SfBareItem> = {};
  while (cursor.text.charCodeAt(cursor.pos) === 59 /* ; */) {
    cursor.pos++;
    skipSpaces(cursor);
    const key = parseKey(cursor);
    if (key === undefined) return undefined;
    let value: SfBareItem = true;
    if (cursor.text.charCodeAt(cursor.pos) === 61 /* = */) {
      cursor.pos++;
      const bare = parseBareItem(cursor);
      if (bare === undefined) return undefined;
      value = bare;
    }
    params[key] = value;
  }
  return params;
}

function parseBareItem(cursor: Cursor): SfBareItem | undefined {
  const code = cursor.text.charCodeAt(cursor.pos);
  if (code === 45 /* - */ || isDigit(code)) return parseNumber(cursor);
  if (code === 34 /* " */) return parseString(cursor);
  if (isAlpha(code) || code === 42 /* * */) return parseToken(cursor);
  if (code === 58 /* : */) return parseByteSequence(cursor);
  if (code === 63 /* ? */) return parseBoolean(cursor);
  return undefined;
}

function parseNumber(cursor: Cursor): number | undefined {
  const { text } = cursor;
  const start = cursor.pos;
  if (text.charCodeAt(cursor.pos) === 45) cursor.pos++;
  let integerDigits = 0;
  while (isDigit(text.charCodeAt(cursor.pos))) {
    cursor.pos++;
    integerDigits++;
  }
  if (integerDigits === 0) return undefined;
  if (text.charCodeAt(cursor.pos) !== 46 /* . */) {
    return integerDigits > 15 ? undefined : Number(text.slice(start, cursor.pos));
  }
  cursor.pos++;
  let fractionDigits = 0;
  while (isDigit(text.charCodeAt(cursor.pos))) {
    cursor.pos++;
    fractionDigits++;
  }
  if (integerDigits > 12 || fractionDigits === 0 || fractionDigits > 3) return undefined;
  return Number(text.slice(start, cursor.pos));
}

function parseString(cursor: Cursor): string | undefined {
  const { text } = cursor;
  cursor.pos++;
  let result = '';
  let chunkStart = cursor.pos;
  while (cursor.pos < text.length) {
    const code = text.charCodeAt(cursor.pos);
    if (code === 34 /* " */) {
      result += text.slice(chunkStart, cursor.pos);
      cursor.pos++;
      return result;
    }
    if (code === 92 /* \ */) {
      const escaped = text.charCodeAt(cursor.pos + 1);
      if (escaped !== 34 && escaped !== 92) return undefined;
      result += text.slice(chunkStart, cursor.pos);
      chunkStart = cursor.pos + 1;
      cursor.pos += 2;
      continue;
    }
    if (code < 0x20 || code > 0x7e) return undefined;
    cursor.pos++;
  }
  return undefined;
}

function parseToken(cursor: Cursor): string {
  const { text } = cursor;
  const start = cursor.pos;
  cursor.pos++;
  while (cursor.pos < text.length && isTokenChar(text.charCodeAt(cursor.pos))) cursor.pos++;
  return text.slice(start, cursor.pos);
}

function parseByteSequence(cursor: Cursor): string | undefined {
  const end = cursor.text.indexOf(':', cursor.pos + 1);
  if (end === -1) return undefined;
  const content = cursor.text.slice(cursor.pos + 1, end);
  cursor.pos = end + 1;
  return content;
}

function parseBoolean(cursor: Cursor): boolean | undefined {
  const code = cursor.text.charCodeAt(cursor.pos + 1);
  if (code !== 48 && code !== 49) return undefined;
  cursor.pos += 2;
  return code === 49;
}

function parseKey(cursor: Cursor): string | undefined {
  const { text } = cursor;
  const first = text.charCodeAt(cursor.pos);
  if (!isLowerAlpha(first) && first !== 42 /* * */) return undefined;
  const start = cursor.pos;
  cursor.pos++;
  while (cursor.pos < text.length && isKeyChar(text.charCodeAt(cursor.pos))) cursor.pos++;
  return text.slice(start, cursor.pos);
}

function skipSpaces(cursor: Cursor): void {
  while (cursor.text.charCodeAt(cursor.pos) === 32) cursor.pos++;
}

function skipOptionalWhitespace(cursor: Cursor): void {
  for (;;) {
    const code = cursor.text.charCodeAt(cursor.pos);
    if (code !== 32 && code !== 9) return;
    cursor.pos++;
  }
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isLowerAlpha(code: number): boolean {
  return code >= 97 && code <= 122;
}

function isAlpha(code: number): boolean {
  return isLowerAlpha(code) || (code >= 65 && code <= 90);
}

// lcalpha / DIGIT / "_" / "-" / "." / "*"
function isKeyChar(code: number): boolean {
  return isLowerAlpha(code) || isDigit(code) || code === 95 || code === 45 || code === 46 || code === 42;
}

// tchar (RFC 9110 §5.6.2) plus ":" and "/" (RFC 8941 §3.3.4)
function isTokenChar(code: number): boolean {
  if (isAlpha(code) || isDigit(code)) return true;
  switch (code) {
    case 33: // !
    case 35: // #
    case 36: // $
    case 37: // %
    case 38: // &
    case 39: // '
    case 42: // *
    case 43: // +
    case 45: // -
    case 46: // .
    case 94: // ^
    case 95: // _
    case 96: // `
    case 124: // |
    case 126: // ~
    case 58: // :
    case 47: // /
      return true;
    default:
      return false;
  }
}
