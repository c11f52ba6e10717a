import type { z } from 'zod';
import { findClosest } from './closest.ts';

type Path = readonly PropertyKey[];

/** `pools[0].keys[1].id`: the path as it would be written to find the value in the file. */
export function formatPath(path: Path): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

/** Stands for a value that must not be printed (a secret). */
const HIDDEN = Symbol('hidden');

/** A value as it would appear in the file, shortened when long. */
export function formatValue(value: unknown): string {
  if (value === HIDDEN) return '(hidden)';
  // YAML scalars read as they were written; lists and mappings as JSON, which YAML also accepts.
  const text =
    typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
      ? String(value)
      : (JSON.stringify(value) ?? 'null');
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function valueAt(document: unknown, path: Path): unknown {
  let current = document;
  for (const p of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[p];
  }
  return current;
}

/** `pools[0].name: "" is invalid: expected a non-empty name` (or `… is missing: …` when absent). */
export function describeProblem(path: Path, value: unknown, expected: string): string {
  const where = path.length === 0 ? '(top level)' : formatPath(path);
  if (value === undefined) return `${where} is missing: expected ${expected}`;
  return `${where}: ${formatValue(value)} is invalid: expected ${expected}`;
}

function listChoices(values: readonly unknown[]): string {
  const texts = values.map((v) => String(v));
  return texts.length <= 1
    ? (texts[0] ?? 'nothing')
    : `${texts.slice(0, -1).join(', ')} or ${texts[texts.length - 1]}`;
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of fields',
};

/**
 * What a zod issue expected, in plain words, for issues whose schema gives no phrase of its own (the
 * schemas in this folder phrase their own expectations; this covers types, choices and bounds).
 */
function expectedOf(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_NAMES[issue.expected] ?? `a value of type ${issue.expected}`;
    case 'invalid_value':
      return `one of ${listChoices(issue.values)}`;
    case 'too_small':
      return issue.origin === 'string' && Number(issue.minimum) <= 1
        ? 'non-empty text'
        : `${issue.origin === 'array' ? 'a list of at least' : 'a value of at least'} ${String(issue.minimum)}`;
    case 'too_big':
      return `${issue.origin === 'array' ? 'a list of at most' : 'a value of at most'} ${String(issue.maximum)}`;
    default:
      return 'a valid value';
  }
}

function fieldsOf(issue: z.core.$ZodRawIssue): string[] {
  const def = issue.inst?._zod.def as { shape?: Record<string, unknown> } | undefined;
  return def?.shape === undefined ? [] : Object.keys(def.shape);
}

export interface ValidateOptions {
  /** Fields (by name, at any depth) whose values a problem must not print, e.g. `secret`. */
  hiddenFields?: readonly string[];
}

/**
 * Validates `document` against `schema` and returns either the data or every problem as one line:
 * path, value, what is expected, in plain words; an unknown field names the closest valid one.
 */
export function validateDocument<T>(
  schema: z.ZodType<T>,
  document: unknown,
  options: ValidateOptions = {},
): { data: T; problems?: undefined } | { data?: undefined; problems: string[] } {
  const hidden = new Set(options.hiddenFields ?? []);
  const shownValueAt = (path: Path): unknown => {
    const value = valueAt(document, path);
    return value !== undefined && hidden.has(String(path[path.length - 1])) ? HIDDEN : value;
  };
  const knownFields = new Map<string, string[]>();
  const result = schema.safeParse(document, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') knownFields.set(formatPath(issue.path ?? []), fieldsOf(issue));
      return expectedOf(issue);
    },
  });
  if (result.success) return { data: result.data };
  const problems = result.error.issues.flatMap((issue) => {
    if (issue.code !== 'unrecognized_keys') {
      return [describeProblem(issue.path, shownValueAt(issue.path), issue.message)];
    }
    const fields = knownFields.get(formatPath(issue.path)) ?? [];
    const owner = issue.path.length === 0 ? 'the file' : formatPath(issue.path);
    return issue.keys.map((key) => {
      const closest = findClosest(key, fields);
      return (
        `${formatPath([...issue.path, key])}: ${formatValue(shownValueAt([...issue.path, key]))} ` +
        `is not a known field${closest === undefined ? '' : `: did you mean ${closest}?`} ` +
        `(${owner} takes ${listChoices(fields)})`
      );
    });
  });
  return { problems };
}
