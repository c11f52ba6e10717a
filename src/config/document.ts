import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { validateDocument, type ValidateOptions } from './issues.ts';

/**
 * Parses YAML (JSON is valid YAML) and validates it against `schema`; a bad document stops with
 * one message listing every problem by its path in the file. An empty document validates as `{}`.
 */
export function parseConfigDocument<T>(
  schema: z.ZodType<T>,
  text: string,
  source: string,
  options: ValidateOptions = {},
): T {
  let document: unknown;
  try {
    document = parseYaml(text) ?? {};
  } catch (error) {
    // The first line names the problem and its line and column; the excerpt after it is left out
    // because it would print the file's text, which may hold a secret.
    const problem = ((error as Error).message.split('\n')[0] ?? '').replace(/:$/, '');
    throw new HeadroomError(ErrorCode.config, `${source} is not valid YAML: ${problem}`, {
      cause: error,
      details: { file: source },
    });
  }
  return validateConfigDocument(schema, document, source, options);
}

/** Validates an already parsed document (e.g. built in code) as {@link parseConfigDocument} does. */
export function validateConfigDocument<T>(
  schema: z.ZodType<T>,
  document: unknown,
  source: string,
  options: ValidateOptions = {},
): T {
  const result = validateDocument(schema, document, options);
  if (result.problems !== undefined) {
    const { problems } = result;
    const listed = problems.length === 1 ? ` ${problems[0] ?? ''}` : `\n  ${problems.join('\n  ')}`;
    throw new HeadroomError(ErrorCode.config, `${source} is invalid:${listed}`, {
      details: { file: source, problems },
    });
  }
  return result.data;
}

/** Reads a configuration file named by `label` (an environment variable or a flag). */
export function readConfigText(path: string, label: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new HeadroomError(
      ErrorCode.config,
      `${label}=${JSON.stringify(path)} is invalid: expected a readable YAML file (${(error as Error).message})`,
      { cause: error, details: { key: label, value: path } },
    );
  }
}
