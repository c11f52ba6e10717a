import { parseArgs } from 'node:util';
import { findClosest } from '../config/index.ts';

/** A flag of the command line: whether it takes a value, and which commands accept it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly commands: readonly string[] | 'all';
}

export type ParsedArgs =
  | {
      kind: 'ok';
      command: string | undefined;
      values: Readonly<Record<string, string | boolean | undefined>>;
    }
  /** A usage error: the message says what was wrong and, when one is close, what was meant. */
  | { kind: 'usage'; message: string };

/**
 * Parses `argv` against the commands and their options. Unknown commands or options, options of
 * another command and missing values come back as usage errors naming the closest valid spelling,
 * rather than Node's parser messages.
 */
export function parseCommandLine(
  argv: readonly string[],
  commands: readonly string[],
  options: Readonly<Record<string, OptionSpec>>,
): ParsedArgs {
  const { tokens } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: Object.fromEntries(
      Object.entries(options).map(([name, spec]) => [
        name,
        { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }) },
      ]),
    ),
  });
  const positionals = tokens.filter((t) => t.kind === 'positional').map((t) => t.value);
  const command = positionals[0];
  if (command !== undefined && !commands.includes(command)) {
    const closest = findClosest(command, commands);
    return {
      kind: 'usage',
      message: `unknown command "${command}"${closest === undefined ? '' : `: did you mean ${closest}?`}`,
    };
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = options[token.name];
    if (spec === undefined) {
      const known = Object.keys(options).filter((name) => accepts(options[name], command));
      const closest = findClosest(token.name, known);
      return {
        kind: 'usage',
        message: `unknown option ${token.rawName}${closest === undefined ? '' : `: did you mean --${closest}?`}`,
      };
    }
    if (!accepts(spec, command)) {
      const owners = spec.commands === 'all' ? [] : spec.commands;
      return {
        kind: 'usage',
        message: `${token.rawName} is not an option of ${command === undefined ? 'headroom without a command' : command}: it belongs to ${owners.join(', ')}`,
      };
    }
    if (spec.type === 'string' && (token.value === undefined || token.value === '')) {
      return { kind: 'usage', message: `${token.rawName} needs a value, e.g. ${token.rawName}=VALUE` };
    }
    values[token.name] = spec.type === 'string' ? token.value : true;
  }
  if (positionals.length > 1) {
    return { kind: 'usage', message: `unexpected argument "${positionals[1] ?? ''}" after ${command ?? ''}` };
  }
  return { kind: 'ok', command, values };
}

function accepts(spec: OptionSpec | undefined, command: string | undefined): boolean {
  if (spec === undefined) return false;
  return spec.commands === 'all' || (command !== undefined && spec.commands.includes(command));
}
