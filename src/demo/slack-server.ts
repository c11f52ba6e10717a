import { createServer, type IncomingMessage, type Server } from 'node:http';

/** One Web API call as the server received it. */
export interface SlackCall {
  method: string;
  token: string;
  args: Record<string, unknown>;
  /** The HTTP status the server answered. */
  status: number;
  /** The JSON body the server answered. */
  response: Record<string, unknown>;
}

export interface SlackServer {
  /** Base URL to give `HEADROOM_SLACK_API_URL`, ending in `/api/`. */
  url: string;
  calls: SlackCall[];
  /** Calls answered 200 ok, i.e. what Slack would have shown. */
  delivered(method?: string): SlackCall[];
  /** The next `count` calls are answered 429 with `Retry-After: seconds`. */
  rateLimitNext(count: number, seconds: number): void;
  /**
   * The next `count` calls fail: with a Slack error (`channel_not_found`, `not_in_channel`,
   * `invalid_auth`, …) in a 200 body, or, given an HTTP status, as an outage (e.g. 503).
   */
  failNext(count: number, failure: string | number): void;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const type = request.headers['content-type'] ?? '';
  if (type.includes('application/json')) return JSON.parse(text) as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    // Like Slack, structured arguments (blocks, attachments) arrive as JSON text in form bodies.
    args[key] =
      (key === 'blocks' || key === 'attachments') && value.startsWith('[') ? JSON.parse(value) : value;
  }
  return args;
}

/**
 * A local HTTP server answering like the Slack Web API for chat.postMessage and chat.update
 * (including `429` with `Retry-After`), recording every call.
 */
export async function startSlackServer(options: { log?: (line: string) => void } = {}): Promise<SlackServer> {
  const calls: SlackCall[] = [];
  let rateLimited = 0;
  let retryAfterSeconds = 1;
  let failing = 0;
  let failure: string | number = 'internal_error';
  let sequence = 0;
  const server: Server = createServer((request, response) => {
    void (async () => {
      const method = (request.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
      const args = await readBody(request);
      const token = (request.headers.authorization ?? '').replace(/^Bearer /, '');
      const reply = (
        status: number,
        body: Record<string, unknown>,
        headers: Record<string, string> = {},
      ): void => {
        calls.push({ method, token, args, status, response: body });
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(JSON.stringify(body));
      };
      if (rateLimited > 0) {
        rateLimited--;
        reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(retryAfterSeconds) });
        return;
      }
      if (failing > 0) {
        failing--;
        if (typeof failure === 'number') reply(failure, { ok: false, error: 'service_unavailable' });
        else reply(200, { ok: false, error: failure });
        return;
      }
      if (token === '') {
        reply(200, { ok: false, error: 'not_authed' });
        return;
      }
      switch (method) {
        case 'chat.postMessage': {
          const ts = `${1_700_000_000 + ++sequence}.000100`;
          const thread = typeof args['thread_ts'] === 'string' ? ` (thread ${args['thread_ts']})` : '';
          options.log?.(
            `[slack] chat.postMessage ${String(args['channel'])}${thread}: ${String(args['text'])}`,
          );
          reply(200, { ok: true, channel: args['channel'], ts, message: { text: args['text'], ts } });
          return;
        }
        case 'chat.update':
          options.log?.(
            `[slack] chat.update ${String(args['channel'])} ts=${String(args['ts'])}: ${String(args['text'])}`,
          );
          reply(200, { ok: true, channel: args['channel'], ts: args['ts'], text: args['text'] });
          return;
        default:
          reply(200, { ok: false, error: 'unknown_method' });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/api/`,
    calls,
    delivered: (method) =>
      calls.filter(
        (c) => c.status === 200 && c.response['ok'] === true && (method === undefined || c.method === method),
      ),
    rateLimitNext(count, seconds) {
      rateLimited = count;
      retryAfterSeconds = seconds;
    },
    failNext(count, what) {
      failing = count;
      failure = what;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
