/**
 * A loopback HTTP server standing in for a gateway's admin API: it records every request and
 * answers as the test scripts it (a status and body, or no answer at all).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GatewayRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  atMs: number;
}

export type GatewayAnswer = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang';

export interface GatewayServer {
  readonly url: string;
  readonly requests: GatewayRequest[];
  /** Replaces the script; it sees each request and the number of requests before it. */
  answer(script: (request: GatewayRequest, index: number) => GatewayAnswer): void;
  close(): Promise<void>;
}

export async function startGatewayServer(
  script: (request: GatewayRequest, index: number) => GatewayAnswer = () => ({ status: 200, body: {} }),
): Promise<GatewayServer> {
  const requests: GatewayRequest[] = [];
  const hanging: ServerResponse[] = [];
  let current = script;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: GatewayRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        atMs: Date.now(),
      };
      requests.push(request);
      const answer = current(request, requests.length - 1);
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      const body =
        answer.body === undefined
          ? ''
          : typeof answer.body === 'string'
            ? answer.body
            : JSON.stringify(answer.body);
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answer(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
