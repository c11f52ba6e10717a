import {
  createServer,
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig, GatewayPoolConfig } from '../config/index.ts';
import { ErrorCode } from '../errors/index.ts';
import { bearerMatches } from '../auth/index.ts';
import {
  createUsageReader,
  readRequestModel,
  recordApiCall,
  type ApiCallFields,
  type ApiCallRecord,
} from '../sdk/index.ts';
import { normaliseResponse, type Outcome } from '../telemetry/index.ts';
import { startFeed, type Feed } from './feeds.ts';
import { KeyRouter, isRetryable } from './key-router.ts';
import { GatewayMetrics } from './metrics.ts';
import { SpillRouter, withSpill } from './spill.ts';
import { parseAdvice } from './strategies/advice.ts';
import { createStrategy } from './strategies/registry.ts';
import { isRateLimit } from './strategies/types.ts';
import { DROPPED_RESPONSE_HEADERS, callUpstream, resolveTarget, type UpstreamTarget } from './upstream.ts';

/** Request header naming the pool; without it, the first configured pool serves. */
export const POOL_HEADER = 'x-headroom-pool';
/** Request header naming the application or tenant (`keypool.consumer` of the spans). */
export const CONSUMER_HEADER = 'x-headroom-consumer';
/** Response header naming the alias of the key that served the call. */
export const KEY_HEADER = 'x-headroom-key-id';

const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_ADMIN_BODY_BYTES = 1024 * 1024;
const ATTEMPTS = 2;

interface PoolRuntime {
  readonly config: GatewayPoolConfig;
  readonly router: KeyRouter;
  readonly targets: ReadonlyMap<string, UpstreamTarget>;
  readonly spill: SpillRouter;
  feed: Feed | undefined;
}

export interface Gateway {
  /** `http://host:port` the gateway listens on. */
  readonly url: string;
  readonly metrics: GatewayMetrics;
  /** The key router of each pool (its strategy and the gateway's cooldowns). */
  router(pool: string): KeyRouter | undefined;
  /** Stops polling, stops accepting, and waits (at most `graceMs`) for calls in flight. */
  close(graceMs?: number): Promise<void>;
}

export interface GatewayOptions {
  /** Epoch ms; default `Date.now`. */
  now?: () => number;
}

/** A failed attempt whose answer is held back in case another key succeeds. */
interface HeldFailure {
  statusCode: number | undefined;
  headers: string[];
  body: Buffer | undefined;
  outcome: Outcome;
  timedOut: boolean;
}

/**
 * Starts the reference gateway: an OpenAI-compatible proxy over the configured key pools (any
 * path under `/v1/` is passed to the chosen key's upstream), plus `/healthz`, `/metrics` and the
 * admin API. Secrets stay in this process: they go to their upstream only, never into a span,
 * a log line or an answer.
 */
export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const now = options.now ?? Date.now;
  const metrics = new GatewayMetrics();
  const pools = new Map<string, PoolRuntime>();
  const poolNames = config.pools.map((p) => p.name);
  for (const pool of config.pools) {
    const spill = new SpillRouter(pool.name, poolNames);
    const warned = new Set<string>();
    const strategy = withSpill(
      createStrategy(
        pool.strategy,
        pool.keys.map((k) => ({ keyId: k.id, weight: k.weight, priority: k.priority })),
        pool.strategyOptions,
      ),
      spill,
      (ignored) => {
        for (const fallback of ignored) {
          if (warned.has(fallback)) continue;
          warned.add(fallback);
          process.emitWarning(
            `headroom gateway: the advice for pool ${JSON.stringify(pool.name)} spills to ${JSON.stringify(fallback)}, which is not a pool of this gateway; that share stays in ${JSON.stringify(pool.name)}`,
          );
        }
      },
    );
    pools.set(pool.name, {
      config: pool,
      router: new KeyRouter(
        strategy,
        pool.keys.map((k) => k.id),
        config,
      ),
      targets: new Map(pool.keys.map((k) => [k.id, resolveTarget(k)])),
      spill,
      feed: undefined,
    });
  }
  const defaultPool = config.pools[0]?.name;
  const spans = config.headroom?.spans ?? false;

  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: OutgoingHttpHeaders = {},
  ): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  // OpenAI's error shape, so clients written for it read the gateway's own refusals too.
  const sendError = (
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    headers: OutgoingHttpHeaders = {},
  ): void => sendJson(res, status, { error: { message, type: errorType(status), code } }, headers);

  const sendExhausted = (res: ServerResponse, pool: string, retryAtMs: number): void => {
    metrics.increment('headroom_gateway_keys_exhausted_total', { pool });
    const seconds = Math.max(1, Math.ceil((retryAtMs - now()) / 1000));
    sendError(res, 429, ErrorCode.keysExhausted, 'Keys Temporarily Exhausted', {
      'retry-after': String(seconds),
    });
  };

  const proxy = async (
    req: IncomingMessage,
    res: ServerResponse,
    runtime: PoolRuntime,
    body: Buffer,
    spilledFrom: string | undefined,
  ): Promise<void> => {
    const pool = runtime.config.name;
    metrics.increment('headroom_gateway_requests_total', { pool });
    const requestModel = readRequestModel(body);
    const consumerHeader = rawHeader(req.rawHeaders, CONSUMER_HEADER);
    const consumer = typeof consumerHeader === 'string' && consumerHeader !== '' ? consumerHeader : undefined;
    // A client that goes away takes its upstream call with it.
    let clientGone = false;
    let inFlight: ClientRequest | undefined;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      inFlight?.destroy();
    });
    const tried = new Set<string>();
    let held: HeldFailure | undefined;

    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const choice = runtime.router.choose(now(), tried);
      if (choice.keyId === undefined) break;
      if (attempt > 0) metrics.increment('headroom_gateway_retries_total', { pool });
      tried.add(choice.keyId);
      const target = runtime.targets.get(choice.keyId) as UpstreamTarget;
      const startTimeMs = now();
      const result = await callUpstream(
        target,
        req.method ?? 'POST',
        req.url ?? '/',
        req.rawHeaders,
        body,
        config.upstreamTimeoutMs,
        (upstreamRequest) => (inFlight = upstreamRequest),
      );
      const record = (
        statusCode: number | undefined,
        // Its header object is built only for a span: Node makes it on first use.
        response: IncomingMessage | undefined,
        outcome: Outcome,
        retryAfterMs: number | undefined,
        extra: Partial<ApiCallFields>,
      ): void => {
        const endTimeMs = now();
        metrics.increment('headroom_gateway_upstream_calls_total', { pool, key: choice.keyId, outcome });
        runtime.router.observe({
          keyId: choice.keyId,
          atMs: endTimeMs,
          outcome,
          ...(statusCode === undefined ? {} : { statusCode }),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
        if (!spans) return;
        deferSpan({
          pool,
          keyId: choice.keyId,
          provider: target.provider,
          serverAddress: target.serverAddress,
          startTimeMs,
          endTimeMs,
          ...(target.key.partition === undefined ? {} : { partition: target.key.partition }),
          ...(requestModel === undefined ? {} : { requestModel }),
          ...(consumer === undefined ? {} : { consumer }),
          ...(spilledFrom === undefined ? {} : { spilledFrom }),
          ...(statusCode === undefined ? {} : { statusCode }),
          ...(response === undefined ? {} : { headers: response.headers }),
          ...extra,
        });
      };

      if (result.kind === 'error') {
        if (clientGone) {
          // Not the key's fault: nothing for the strategies to hold against it.
          record(undefined, undefined, 'client_error', undefined, { errorType: 'client_closed' });
          return;
        }
        const outcome: Outcome = result.timedOut ? 'timeout' : 'upstream_error';
        record(undefined, undefined, outcome, undefined, { errorType: result.errorType });
        held = { statusCode: undefined, headers: [], body: undefined, outcome, timedOut: result.timedOut };
        continue;
      }

      const upstream = result.response;
      const statusCode = upstream.statusCode ?? 502;
      if (statusCode >= 400) {
        // Read the (small) error body: it tells an exhausted quota from a rate limit, and the
        // answer is held back until it is known whether another key takes the call.
        const errorBody = await readBody(upstream, MAX_ERROR_BODY_BYTES).catch(() => undefined);
        const text = errorBody?.toString('utf8');
        const normalised = normaliseResponse({
          provider: target.provider,
          statusCode,
          headers: upstream.headers,
          body: text,
          nowMs: now(),
        });
        record(statusCode, upstream, normalised.outcome, normalised.retryAfterMs, {
          ...(text === undefined ? {} : { errorBody: text }),
        });
        held = {
          statusCode,
          headers: responseHeaders(upstream, target.key.id).headers,
          body: errorBody,
          outcome: normalised.outcome,
          timedOut: false,
        };
        if (isRetryable(normalised.outcome)) continue;
        break;
      }

      // Success: the body goes to the client as it arrives, one write per read of the upstream
      // socket (the chunks the parser hands over from one read leave together). A body whose end
      // is already in that read leaves with the headers and the end of the response in a single
      // write.
      const forwarded = responseHeaders(upstream, target.key.id);
      const reader = createUsageReader(forwarded.contentType);
      res.writeHead(statusCode, forwarded.headers);
      let pending: Buffer[] = [];
      const takePending = (): Buffer | undefined => {
        const data = pending.length <= 1 ? pending[0] : Buffer.concat(pending);
        pending = [];
        return data;
      };
      const flush = (): void => {
        if (pending.length === 0 || upstream.complete) return;
        if (!res.write(takePending())) {
          upstream.pause();
          res.once('drain', () => upstream.resume());
        }
      };
      upstream.on('data', (chunk: Buffer) => {
        reader.write(chunk);
        if (pending.push(chunk) === 1) process.nextTick(flush);
      });
      await new Promise<void>((resolve) => {
        let done = false;
        const finish = (broken: Error | undefined): void => {
          if (done) return;
          done = true;
          const usage = reader.finish();
          const tokens = {
            ...(usage.inputTokens === undefined ? {} : { inputTokens: usage.inputTokens }),
            ...(usage.outputTokens === undefined ? {} : { outputTokens: usage.outputTokens }),
            ...(usage.cachedInputTokens === undefined ? {} : { cachedInputTokens: usage.cachedInputTokens }),
            ...(usage.responseModel === undefined ? {} : { responseModel: usage.responseModel }),
          };
          if (broken === undefined && usage.errorBody === undefined) {
            record(statusCode, upstream, 'ok', undefined, tokens);
            res.end(takePending());
          } else {
            const outcome = clientGone
              ? 'client_error'
              : broken !== undefined
                ? 'upstream_error'
                : normaliseResponse({
                    provider: target.provider,
                    statusCode,
                    body: usage.errorBody,
                    nowMs: now(),
                  }).outcome;
            record(statusCode, upstream, outcome, undefined, {
              ...tokens,
              ...(usage.errorBody === undefined
                ? { errorType: clientGone ? 'client_closed' : (broken?.name ?? 'upstream_error') }
                : { errorBody: usage.errorBody }),
            });
            if (broken === undefined) res.end(takePending());
            else {
              if (pending.length > 0) res.write(takePending());
              res.destroy(broken);
            }
          }
          resolve();
        };
        upstream.on('end', () => finish(undefined));
        upstream.on('error', (error) => finish(error));
        upstream.on('close', () => {
          if (!upstream.complete) finish(new Error('the response was cut off before its end'));
        });
      });
      return;
    }

    if (res.headersSent || clientGone) return;
    if (held === undefined || isRateLimit(held.outcome)) {
      // No key was usable, or the last one tried was rate limited too: the client should wait
      // until the first key comes back.
      sendExhausted(res, pool, runtime.router.firstUsableAtMs(now()));
      return;
    }
    if (held.statusCode === undefined) {
      sendError(
        res,
        held.timedOut ? 504 : 502,
        held.timedOut ? ErrorCode.upstreamTimeout : ErrorCode.upstreamUnavailable,
        held.timedOut
          ? `the upstream did not answer within ${config.upstreamTimeoutMs} ms`
          : 'the upstream could not be reached',
      );
      return;
    }
    res.writeHead(held.statusCode, held.headers);
    res.end(held.body);
  };

  const admin = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const match = /^\/admin\/pools\/([^/]+)(\/weights)?$/.exec(path);
    const poolName = match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
    const isWeights = match?.[2] !== undefined;
    if (req.method === 'PUT' && isWeights && config.adminToken === undefined) {
      sendError(
        res,
        403,
        ErrorCode.adminDisabled,
        'the admin API is off: set admin_token or admin_token_env in the gateway configuration',
      );
      return;
    }
    if (config.adminToken !== undefined && !bearerMatches(req.headers.authorization, [config.adminToken])) {
      sendError(
        res,
        401,
        ErrorCode.unauthorized,
        'missing or invalid admin token: send Authorization: Bearer <admin token>',
      );
      return;
    }
    if (path === '/admin/pools' && req.method === 'GET') {
      sendJson(res, 200, { pools: [...pools.values()].map((p) => describePool(p, now())) });
      return;
    }
    const runtime = poolName === undefined ? undefined : pools.get(poolName);
    if (runtime === undefined) {
      sendError(res, 404, ErrorCode.notFound, `no pool ${JSON.stringify(poolName ?? path)} in this gateway`);
      return;
    }
    if (!isWeights && req.method === 'GET') {
      sendJson(res, 200, describePool(runtime, now()));
      return;
    }
    if (!isWeights || req.method !== 'PUT') {
      sendError(
        res,
        405,
        ErrorCode.badRequest,
        `${req.method ?? ''} ${path} is not supported: use GET /admin/pools/:pool or PUT /admin/pools/:pool/weights`,
      );
      return;
    }
    const push = (result: string): void =>
      metrics.increment('headroom_gateway_admin_pushes_total', { pool: runtime.config.name, result });
    if (runtime.router.strategy.applyAdvice === undefined) {
      push('refused');
      sendError(
        res,
        409,
        ErrorCode.strategyMismatch,
        `pool ${JSON.stringify(runtime.config.name)} uses the ${runtime.config.strategy} strategy, which does not take weights; set strategy: headroom`,
      );
      return;
    }
    const raw = await readBody(req, MAX_ADMIN_BODY_BYTES);
    if (raw === undefined) {
      push('invalid');
      sendError(res, 413, ErrorCode.payloadTooLarge, `the body is over ${MAX_ADMIN_BODY_BYTES} bytes`);
      return;
    }
    let document: unknown;
    try {
      document = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      push('invalid');
      sendError(res, 400, ErrorCode.badRequest, `the body is not JSON: ${(error as Error).message}`);
      return;
    }
    const parsed = parseAdvice(document);
    if (!parsed.ok) {
      push('invalid');
      sendError(res, 400, ErrorCode.badRequest, parsed.error);
      return;
    }
    runtime.router.strategy.applyAdvice(parsed.advice, now());
    push('applied');
    sendJson(res, 200, describePool(runtime, now()));
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    if (path === '/healthz' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
    if (path === '/metrics' && req.method === 'GET') {
      const text = metrics.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(text);
      return;
    }
    const handle = async (): Promise<void> => {
      if (path.startsWith('/admin/')) return admin(req, res, path);
      if (path !== '/v1' && !path.startsWith('/v1/')) {
        sendError(res, 404, ErrorCode.notFound, `no route ${path}: the gateway proxies /v1/...`);
        return;
      }
      const header = rawHeader(req.rawHeaders, POOL_HEADER);
      const poolName = typeof header === 'string' && header !== '' ? header : defaultPool;
      const runtime = poolName === undefined ? undefined : pools.get(poolName);
      if (runtime === undefined) {
        sendError(
          res,
          404,
          ErrorCode.notFound,
          `${POOL_HEADER}: no pool ${JSON.stringify(poolName)} in this gateway`,
        );
        return;
      }
      const body = await readBody(req, config.maxBodyBytes);
      if (body === undefined) {
        sendError(
          res,
          413,
          ErrorCode.payloadTooLarge,
          `the request body is over max_body_bytes (${config.maxBodyBytes})`,
        );
        return;
      }
      // The advice's spill sends a share of the pool's requests to a fallback pool, whose own key
      // choice then serves them.
      const spillTo = runtime.spill.route(now());
      if (spillTo === undefined) return proxy(req, res, runtime, body, undefined);
      metrics.increment('headroom_gateway_spilled_total', { pool: runtime.config.name, to: spillTo });
      await proxy(req, res, pools.get(spillTo) as PoolRuntime, body, runtime.config.name);
    };
    handle().catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, ErrorCode.internal, 'the gateway failed on this request');
      else res.destroy(error as Error);
      process.emitWarning(`headroom gateway: ${(error as Error).message}`);
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  for (const runtime of pools.values())
    runtime.feed = startFeed(config, runtime.config, runtime.router.strategy, metrics, now);

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    metrics,
    router: (pool) => pools.get(pool)?.router,
    close: (graceMs = 5_000) =>
      (closing ??= new Promise<void>((resolve) => {
        for (const runtime of pools.values()) runtime.feed?.stop();
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      })),
  };
}

const spanQueue: ApiCallRecord[] = [];

/**
 * Spans are built after the current turn of I/O, in one batch, so that building them never holds
 * back an answer that is ready to leave.
 */
function deferSpan(call: ApiCallRecord): void {
  if (spanQueue.push(call) === 1) setImmediate(emitQueuedSpans);
}

function emitQueuedSpans(): void {
  for (const call of spanQueue.splice(0)) recordApiCall(call);
}

function describePool(runtime: PoolRuntime, nowMs: number): Record<string, unknown> {
  const view = runtime.router.strategy.describe(nowMs);
  const status = runtime.feed?.status;
  return {
    pool: runtime.config.name,
    strategy: runtime.config.strategy,
    source: view.source,
    spill: runtime.spill.describe(nowMs),
    ...(status === undefined
      ? {}
      : {
          last_poll_at:
            status.lastPollAtMs === undefined ? null : new Date(status.lastPollAtMs).toISOString(),
          last_poll_result: status.lastResult ?? null,
        }),
    keys: runtime.config.keys.map((key) => {
      const coolingUntil = runtime.router.coolingUntilMs(key.id, nowMs);
      const readyAt = runtime.router.strategy.readyAtMs(key.id, nowMs);
      return {
        key_id: key.id,
        weight: view.weights[key.id] ?? 0,
        cooling_until: coolingUntil === undefined ? null : new Date(coolingUntil).toISOString(),
        held_until: readyAt > nowMs ? new Date(readyAt).toISOString() : null,
      };
    }),
  };
}

/**
 * The upstream's response headers for the client, as a flat name/value list from its raw headers
 * (hop-by-hop ones dropped, the serving key's alias added), and its content type.
 */
function responseHeaders(
  upstream: IncomingMessage,
  keyId: string,
): { headers: string[]; contentType: string | undefined } {
  const raw = upstream.rawHeaders;
  const headers: string[] = [];
  let contentType: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (DROPPED_RESPONSE_HEADERS.has(name) || name === KEY_HEADER) continue;
    const value = raw[i + 1] as string;
    if (name === 'content-type' && contentType === undefined) contentType = value;
    headers.push(name, value);
  }
  headers.push(KEY_HEADER, keyId);
  return { headers, contentType };
}

/** A request header by its lower-case name, repeated values joined as Node joins them. */
function rawHeader(raw: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length !== name.length || (raw[i] as string).toLowerCase() !== name) continue;
    value = value === undefined ? raw[i + 1] : `${value}, ${raw[i + 1] as string}`;
  }
  return value;
}

function errorType(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status === 401 || status === 403) return 'authentication_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** The whole body, or undefined when it is over `limitBytes` (the rest is drained). */
function readBody(stream: IncomingMessage, limitBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let over = false;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limitBytes) over = true;
      else chunks.push(chunk);
    });
    stream.on('end', () =>
      resolve(over ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)),
    );
    stream.on('error', reject);
    stream.on('aborted', () => reject(new Error('the stream was closed before its end')));
  });
}
