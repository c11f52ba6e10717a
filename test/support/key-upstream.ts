/**
 * A local OpenAI-style upstream whose answer depends on the key a call carries, so that a test can
 * make one key of a pool rate limited, exhausted, failing or revoked while the others answer.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type KeyBehaviour =
  | { kind: 'ok' }
  | { kind: 'rate_limited'; retryAfterSeconds?: number }
  | { kind: 'quota' }
  | { kind: 'revoked' }
  | { kind: 'server_error' };

export interface KeyUpstream {
  /** `http://127.0.0.1:<port>/v1` */
  readonly baseUrl: string;
  /** The bearer secret of every call, in arrival order. */
  readonly calls: string[];
  set(secret: string, behaviour: KeyBehaviour): void;
  close(): Promise<void>;
}

export async function startKeyUpstream(): Promise<KeyUpstream> {
  const behaviours = new Map<string, KeyBehaviour>();
  const calls: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const secret = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      calls.push(secret);
      const behaviour = behaviours.get(secret) ?? { kind: 'ok' };
      const send = (status: number, body: object, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      switch (behaviour.kind) {
        case 'ok':
          send(
            200,
            {
              id: 'chatcmpl-1',
              object: 'chat.completion',
              model: 'gpt-4o-mini',
              choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
            },
            {
              'x-ratelimit-limit-requests': '600',
              'x-ratelimit-remaining-requests': '599',
              'x-ratelimit-reset-requests': '100ms',
            },
          );
          return;
        case 'rate_limited':
          send(
            429,
            {
              error: {
                message: 'Rate limit reached for requests',
                type: 'requests',
                code: 'rate_limit_exceeded',
              },
            },
            behaviour.retryAfterSeconds === undefined
              ? {}
              : { 'retry-after': String(behaviour.retryAfterSeconds) },
          );
          return;
        case 'quota':
          send(429, {
            error: {
              message: 'You exceeded your current quota',
              type: 'insufficient_quota',
              code: 'insufficient_quota',
            },
          });
          return;
        case 'revoked':
          send(401, {
            error: {
              message: 'Incorrect API key provided',
              type: 'invalid_request_error',
              code: 'invalid_api_key',
            },
          });
          return;
        case 'server_error':
          send(500, { error: { message: 'The server had an error', type: 'server_error' } });
          return;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    calls,
    set: (secret, behaviour) => behaviours.set(secret, behaviour),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
