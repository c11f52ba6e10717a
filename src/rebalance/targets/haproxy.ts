import { createConnection, type NetConnectOpts } from 'node:net';
import type { PushTargetConfig } from '../../config/index.ts';
import { ErrorCode, HeadroomError, type IoResult } from '../../errors/index.ts';
import type { Advice } from '../index.ts';
import { eachUntilFailure } from './http.ts';
import { mappedKeys, type PushTarget } from './types.ts';

type HaproxyConfig = Extract<PushTargetConfig, { type: 'haproxy' }>;

/** HAProxy's largest server weight (`set server … weight` accepts 0 to 256). */
export const HAPROXY_MAX_WEIGHT = 256;

/** Where the Runtime API listens: a UNIX socket or a TCP address (`stats socket` in haproxy.cfg). */
export function haproxyConnectOptions(address: string): NetConnectOpts {
  if (address.startsWith('unix:')) return { path: address.slice('unix:'.length) };
  if (address.startsWith('/')) return { path: address };
  const bare = address.replace(/^ipv[46]@/, '');
  const colon = bare.lastIndexOf(':');
  return { host: bare.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(bare.slice(colon + 1)) };
}

/**
 * HAProxy weights for the advice: the heaviest key gets {@link HAPROXY_MAX_WEIGHT} and the others
 * their share of it, at least 1 while usable (0 would take a key out silently; a key headroom takes
 * out goes to `maint`, which the stats page shows).
 */
export function scaleHaproxyWeights(weights: readonly number[]): number[] {
  const heaviest = Math.max(0, ...weights);
  return weights.map((w) =>
    w <= 0 || heaviest <= 0 ? 0 : Math.max(1, Math.round((HAPROXY_MAX_WEIGHT * w) / heaviest)),
  );
}

/** The Runtime API commands that bring a backend in line with the advice, in order. */
export function haproxyCommands(
  advice: Advice,
  backend: string,
  keys: Readonly<Record<string, string>>,
): string[] {
  const mapped = mappedKeys(advice, keys);
  const weights = scaleHaproxyWeights(mapped.map((m) => m.key.weight));
  return mapped.flatMap(({ gatewayId }, i) => {
    const server = `${backend}/${gatewayId}`;
    const weight = weights[i] ?? 0;
    return weight === 0
      ? [`set server ${server} state maint`]
      : [`set server ${server} state ready`, `set server ${server} weight ${weight}`];
  });
}

/**
 * Sends one command to the Runtime API over a fresh connection (HAProxy answers a non-interactive
 * command and closes) and resolves with the answer text. Connection problems and timeouts are
 * retryable; an abort through `signal` (shutdown) is a failure.
 */
export function queryRuntimeApi(
  address: string,
  command: string,
  timeoutMillis: number,
  signal: AbortSignal,
): Promise<IoResult<string>> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (result: IoResult<string>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const unavailable = (detail: string, cause?: unknown): IoResult<string> => ({
      kind: signal.aborted ? 'failure' : 'retryable',
      error: new HeadroomError(ErrorCode.deliveryUnavailable, `HAProxy Runtime API ${address}: ${detail}`, {
        cause,
      }),
    });
    const socket = createConnection(haproxyConnectOptions(address));
    const onAbort = (): void => finish(unavailable('abandoned at shutdown'));
    const timer = setTimeout(
      () => finish(unavailable(`no answer to "${command}" within ${timeoutMillis} ms`)),
      timeoutMillis,
    );
    signal.addEventListener('abort', onAbort);
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => finish(unavailable(error.message, error)));
    socket.on('end', () => finish({ kind: 'success', value: Buffer.concat(chunks).toString('utf8') }));
  });
}

/**
 * Sends a `set` command. `set server` answers nothing on success; any text is HAProxy's error
 * ("No such server.", "Permission denied", a weight out of range) and a failure.
 */
export async function sendRuntimeCommand(
  address: string,
  command: string,
  timeoutMillis: number,
  signal: AbortSignal,
): Promise<IoResult<string>> {
  const result = await queryRuntimeApi(address, command, timeoutMillis, signal);
  if (result.kind !== 'success') return result;
  const answer = result.value.trim();
  if (answer === '') return result;
  return {
    kind: 'failure',
    error: new HeadroomError(
      ErrorCode.deliveryRejected,
      `HAProxy Runtime API ${address} refused "${command}": ${answer.slice(0, 200)}`,
    ),
  };
}

export function createHaproxyTarget(config: HaproxyConfig): PushTarget {
  return {
    pool: config.pool,
    name: config.name,
    type: 'haproxy',
    async push(advice, signal) {
      const commands = haproxyCommands(advice, config.backend, config.keys);
      const result = await eachUntilFailure(commands, (command) =>
        sendRuntimeCommand(config.address, command, config.timeout_ms, signal),
      );
      if (result.kind !== 'success') return result;
      return { kind: 'success', value: { summary: commands.join('; ') } };
    },
  };
}
