import {
  Agent as HttpAgent,
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { GatewayKeyConfig, UpstreamFormat } from '../config/index.ts';

/** `gen_ai.provider.name` of each upstream format. */
export const PROVIDER_OF_FORMAT: Readonly<Record<UpstreamFormat, string>> = {
  openai: 'openai',
  azure: 'azure.ai.openai',
  anthropic: 'anthropic',
};

/** Request headers never passed upstream: hop-by-hop ones, the client's credentials, the gateway's own. */
const DROPPED_REQUEST_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'authorization',
  'api-key',
  'x-api-key',
  // Usage is read from the body the gateway passes on, so the upstream answers uncompressed.
  'accept-encoding',
]);

/** Response headers not passed back: hop-by-hop ones (Node sets its own framing). */
export const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Where one key's calls go, resolved once at start. */
export interface UpstreamTarget {
  readonly key: GatewayKeyConfig;
  readonly provider: string;
  readonly hostname: string;
  readonly serverAddress: string;
  /** `Host` of the upstream requests (the port only when it is not the scheme's default). */
  readonly hostHeader: string;
  readonly port: number;
  readonly basePath: string;
  readonly query: string;
  readonly secure: boolean;
  readonly authHeader: readonly [string, string];
}

export function resolveTarget(key: GatewayKeyConfig): UpstreamTarget {
  const url = new URL(key.baseUrl);
  const secure = url.protocol === 'https:';
  const query = new URLSearchParams(key.query).toString();
  return {
    key,
    provider: PROVIDER_OF_FORMAT[key.format],
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    serverAddress: url.hostname,
    hostHeader: url.host,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    basePath: url.pathname.replace(/\/+$/, ''),
    query,
    secure,
    authHeader:
      key.format === 'azure'
        ? ['api-key', key.secret]
        : key.format === 'anthropic'
          ? ['x-api-key', key.secret]
          : ['authorization', `Bearer ${key.secret}`],
  };
}

/** The upstream path of a client path: `/v1/chat/completions?x=1` under the key's base URL. */
export function upstreamPath(target: UpstreamTarget, clientPath: string): string {
  const queryAt = clientPath.indexOf('?');
  const path = queryAt === -1 ? clientPath : clientPath.slice(0, queryAt);
  const clientQuery = queryAt === -1 ? '' : clientPath.slice(queryAt + 1);
  const rest = path === '/v1' ? '' : path.startsWith('/v1/') ? path.slice(3) : path;
  const query = [clientQuery, target.query].filter((q) => q !== '').join('&');
  return `${target.basePath}${rest}${query === '' ? '' : `?${query}`}`;
}

export type UpstreamResult =
  | { kind: 'response'; response: IncomingMessage }
  | { kind: 'error'; errorType: string; timedOut: boolean; error: Error };

/** Keep-alive pools shared by every key: loopback and TLS connections are reused between calls. */
const httpAgent = new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
const httpsAgent = new HttpsAgent({ keepAlive: true, scheduling: 'lifo' });

/**
 * Sends one call to the key's upstream and resolves with its response headers (the body is left
 * to the caller, unread) or with the failure. `timeoutMs` bounds every silence of the socket, so
 * it covers the wait for headers and a stalled stream alike.
 */
export function callUpstream(
  target: UpstreamTarget,
  method: string,
  clientPath: string,
  clientRawHeaders: readonly string[],
  body: Buffer,
  timeoutMs: number,
  started: (request: ClientRequest) => void,
): Promise<UpstreamResult> {
  // Built as a flat name/value list straight from the client's raw headers: Node writes such a
  // list as it is, without the header object it would otherwise build and check on each side.
  const headers: string[] = [];
  for (let i = 0; i < clientRawHeaders.length; i += 2) {
    const name = (clientRawHeaders[i] as string).toLowerCase();
    if (DROPPED_REQUEST_HEADERS.has(name) || name.startsWith('x-headroom-')) continue;
    headers.push(name, clientRawHeaders[i + 1] as string);
  }
  // With a list, Node adds no Host of its own.
  headers.push('host', target.hostHeader, target.authHeader[0], target.authHeader[1]);
  if (body.length > 0 || method === 'POST' || method === 'PUT' || method === 'PATCH') {
    headers.push('content-length', String(body.length));
  }
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: UpstreamResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const request = (target.secure ? httpsRequest : httpRequest)(
      {
        hostname: target.hostname,
        port: target.port,
        path: upstreamPath(target, clientPath),
        method,
        headers,
        agent: target.secure ? httpsAgent : httpAgent,
        timeout: timeoutMs,
      },
      (response) => settle({ kind: 'response', response }),
    );
    request.on('timeout', () => {
      const error = new Error(`upstream silent for ${timeoutMs} ms`);
      settle({ kind: 'error', errorType: 'timeout', timedOut: true, error });
      request.destroy(error);
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      settle({ kind: 'error', errorType: error.code ?? error.name, timedOut: false, error });
    });
    started(request);
    request.end(body);
  });
}
