/**
 * Deployments of an OpenAI-compatible model, one HTTP server each (the Azure OpenAI pattern: one
 * endpoint per deployment, each with its own quota). Each has a request quota per fixed window
 * that resets at the window's end, answers with OpenAI's `x-ratelimit-*-requests` headers, and
 * a 429 `rate_limit_exceeded` with `Retry-After` until the reset once the quota is spent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DeploymentSpec {
  name: string;
  /** Requests per window. */
  limit: number;
}

export interface Deployment {
  readonly name: string;
  readonly port: number;
  readonly limit: number;
  /** Requests answered 200 / 429 so far. */
  readonly served: number;
  readonly refused: number;
  /** Spends what is left of the current window, as another consumer of the same quota would. */
  spendRemaining(): void;
}

export interface QuotaUpstreams {
  readonly deployments: readonly Deployment[];
  /** Epoch ms at which window `n` (from 0) starts. */
  windowStartMs(n: number): number;
  /** Starts window 0 afresh at `startMs` (quotas full), e.g. once everything else has started. */
  restartWindows(startMs: number): void;
  close(): Promise<void>;
}

export async function startQuotaUpstreams(
  specs: readonly DeploymentSpec[],
  windowMs: number,
  startMs = Date.now(),
): Promise<QuotaUpstreams> {
  const servers: Server[] = [];
  const deployments: Deployment[] = [];
  const resets: Array<() => void> = [];
  const windowOf = (nowMs: number): number => Math.floor((nowMs - startMs) / windowMs);
  for (const spec of specs) {
    let window = 0;
    let used = 0;
    let served = 0;
    let refused = 0;
    const roll = (nowMs: number): void => {
      const current = windowOf(nowMs);
      if (current !== window) {
        window = current;
        used = 0;
      }
    };
    resets.push(() => {
      window = 0;
      used = 0;
    });
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const nowMs = Date.now();
        roll(nowMs);
        const resetInMs = startMs + (window + 1) * windowMs - nowMs;
        const headers = {
          'content-type': 'application/json',
          'x-ratelimit-limit-requests': String(spec.limit),
          'x-ratelimit-reset-requests': `${(resetInMs / 1000).toFixed(3)}s`,
        };
        if (used >= spec.limit) {
          refused++;
          res.writeHead(429, {
            ...headers,
            'x-ratelimit-remaining-requests': '0',
            'retry-after': String(Math.ceil(resetInMs / 1000)),
          });
          res.end(
            JSON.stringify({
              error: {
                message: `Rate limit reached for requests on deployment ${spec.name}`,
                type: 'requests',
                code: 'rate_limit_exceeded',
              },
            }),
          );
          return;
        }
        used++;
        served++;
        res.writeHead(200, { ...headers, 'x-ratelimit-remaining-requests': String(spec.limit - used) });
        res.end(
          JSON.stringify({
            id: `chatcmpl-${served}`,
            object: 'chat.completion',
            model: 'gpt-4o-mini-2024-07-18',
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const port = (server.address() as AddressInfo).port;
    deployments.push({
      name: spec.name,
      port,
      limit: spec.limit,
      get served() {
        return served;
      },
      get refused() {
        return refused;
      },
      spendRemaining() {
        roll(Date.now());
        used = spec.limit;
      },
    });
  }
  return {
    deployments,
    windowStartMs: (n) => startMs + n * windowMs,
    restartWindows(at) {
      startMs = at;
      for (const reset of resets) reset();
    },
    close: () =>
      Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections();
              s.close(() => resolve());
            }),
        ),
      ).then(() => undefined),
  };
}
