import { z } from 'zod';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { describeProblem } from './issues.ts';

function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const protocol = new URL(value).protocol;
  return protocol === 'http:' || protocol === 'https:';
}

const httpUrl = z.string().refine(isHttpUrl, { error: 'an absolute http:// or https:// URL' });

/** headroom key id → the gateway's own name for it (HAProxy server, LiteLLM model id, Bifrost key id). */
const keyMap = z.record(z.string().min(1), z.string().min(1));

/** Backend and server names go into Runtime API command lines: no spaces, `;` or line breaks. */
const haproxyName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]+$/, { error: 'an HAProxy name: letters, digits, ".", "_", ":" or "-"' });

const common = {
  /** Unique within the pool; shown in `GET /v1/pools` and the `pushes` table. Default: the type. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, { error: 'a name of letters, digits, ".", "_" or "-"' })
    .optional(),
  /** Per attempt. */
  timeout_ms: z.number().int().min(100).max(120_000).default(5_000),
  /** No retry starts after this long from the first attempt. */
  deadline_ms: z.number().int().min(1_000).max(600_000).default(30_000),
};

const secretFields = {
  token: z.string().min(1).optional(),
  /** Name of the environment variable holding the token (preferred over `token`: keeps it out of the file). */
  token_env: z.string().min(1).optional(),
};

const haproxySchema = z
  .object({
    type: z.literal('haproxy'),
    ...common,
    /** Runtime API: `unix:/run/haproxy/admin.sock`, an absolute socket path, or `host:port` (`ipv4@` accepted). */
    address: z
      .string()
      .regex(/^(unix:)?\/.+$|^(ipv4@)?[A-Za-z0-9.-]+:\d{1,5}$|^ipv6@\[[0-9a-fA-F:]+\]:\d{1,5}$/, {
        error: 'unix:/path/to/admin.sock, an absolute socket path, or host:port',
      }),
    backend: haproxyName,
    /** headroom key id → server name in `backend`. */
    keys: z.record(z.string().min(1), haproxyName),
  })
  .strict();

const litellmSchema = z
  .object({ type: z.literal('litellm'), ...common, ...secretFields, url: httpUrl, keys: keyMap })
  .strict();

const bifrostSchema = z
  .object({
    type: z.literal('bifrost'),
    ...common,
    ...secretFields,
    url: httpUrl,
    /** Bifrost provider name, e.g. `openai`. */
    provider: z.string().min(1),
    keys: keyMap,
  })
  .strict();

const gatewaySchema = z
  .object({ type: z.literal('gateway'), ...common, ...secretFields, url: httpUrl, keys: keyMap.optional() })
  .strict();

const webhookSchema = z
  .object({
    type: z.literal('webhook'),
    ...common,
    url: httpUrl,
    /** HMAC-SHA256 signing secret, or the environment variable holding it. */
    secret: z.string().min(1).optional(),
    secret_env: z.string().min(1).optional(),
    keys: keyMap.optional(),
  })
  .strict();

export const PUSH_TARGET_TYPES = ['haproxy', 'litellm', 'bifrost', 'gateway', 'webhook'] as const;
export type PushTargetType = (typeof PUSH_TARGET_TYPES)[number];

export const pushTargetSchema = z.discriminatedUnion(
  'type',
  [haproxySchema, litellmSchema, bifrostSchema, gatewaySchema, webhookSchema],
  { error: () => `a push target type: one of ${PUSH_TARGET_TYPES.join(', ')}` },
);

export type PushTargetSpec = z.infer<typeof pushTargetSchema>;

type Resolved<T> = Omit<T, 'token' | 'token_env' | 'secret' | 'secret_env' | 'name'> & {
  /** The pool whose advice the target receives. */
  pool: string;
  name: string;
};

/** A push target with its secret read from the environment: what the target modules receive. */
export type PushTargetConfig =
  | Resolved<z.infer<typeof haproxySchema>>
  | (Resolved<z.infer<typeof litellmSchema>> & { token: string | undefined })
  | (Resolved<z.infer<typeof bifrostSchema>> & { token: string | undefined })
  | (Resolved<z.infer<typeof gatewaySchema>> & { token: string | undefined })
  | (Resolved<z.infer<typeof webhookSchema>> & { secret: string });

function fail(source: string, path: string, value: string | undefined, expected: string): never {
  throw new HeadroomError(
    ErrorCode.config,
    `${source} is invalid: ${describeProblem([path], value, expected)}`,
    {
      details: { file: source, key: path, expected },
    },
  );
}

function readSecret(
  source: string,
  path: string,
  literal: string | undefined,
  envName: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const field = path.split('.').pop() ?? '';
  if (literal !== undefined && envName !== undefined) {
    fail(source, `${path}_env`, envName, `either ${field} or ${field}_env, not both`);
  }
  if (envName === undefined) return literal;
  const value = env[envName];
  if (value === undefined || value.trim() === '') {
    fail(source, `${path}_env`, envName, 'the name of a set, non-empty environment variable');
  }
  return value.trim();
}

/**
 * The push targets of every pool, with secrets read from `env`. Throws `HEADROOM_ERR_CONFIG` naming
 * the path (`pools[0].push[1].token_env`), the value and what was expected; `source` names the file.
 */
export function resolvePushTargets(
  pools: ReadonlyArray<{ name: string; push: readonly PushTargetSpec[] }>,
  env: Readonly<Record<string, string | undefined>>,
  source = 'the configuration',
): PushTargetConfig[] {
  const targets: PushTargetConfig[] = [];
  for (const [i, pool] of pools.entries()) {
    const names = new Set<string>();
    for (const [j, spec] of pool.push.entries()) {
      const path = `pools[${i}].push[${j}]`;
      const name = spec.name ?? spec.type;
      if (names.has(name)) {
        fail(
          source,
          `${path}.name`,
          name,
          `a name unique within pool ${JSON.stringify(pool.name)} (two targets of one type need names)`,
        );
      }
      names.add(name);
      if (spec.type === 'haproxy') {
        targets.push({ ...spec, pool: pool.name, name });
        continue;
      }
      if (spec.type === 'webhook') {
        const { secret, secret_env, ...rest } = spec;
        const resolved = readSecret(source, `${path}.secret`, secret, secret_env, env);
        if (resolved === undefined)
          fail(source, `${path}.secret`, undefined, 'a signing secret (secret or secret_env)');
        targets.push({ ...rest, pool: pool.name, name, secret: resolved });
        continue;
      }
      const { token, token_env, ...rest } = spec;
      targets.push({
        ...rest,
        pool: pool.name,
        name,
        token: readSecret(source, `${path}.token`, token, token_env, env),
      });
    }
  }
  return targets;
}
