import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProviderSimulator } from './simulator.ts';
import type { SimResponse } from './types.ts';

export interface SimulatorServerOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /**
   * Simulated ms per real ms, default 1. The simulated clock starts at the simulator's `startMs`
   * when the server starts; latencies shrink by the same factor.
   */
  speed?: number;
  /**
   * The simulated clock, in epoch ms, when something else keeps it (e.g. a benchmark's virtual
   * clock); default the simulator's `startMs` plus the real time elapsed since the server started,
   * times `speed`.
   */
  nowMs?: () => number;
}

export interface SimulatorServer {
  /** `http://host:port` */
  readonly url: string;
  readonly simulator: ProviderSimulator;
  /** The simulated time now. */
  nowMs(): number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Serves a simulator over HTTP. All deciding happens in the simulator; this only reads requests,
 * reads the clock, and writes each answer when it is due (streams event by event, unbuffered).
 */
export async function startSimulatorServer(
  simulator: ProviderSimulator,
  options: SimulatorServerOptions = {},
): Promise<SimulatorServer> {
  const speed = options.speed ?? 1;
  if (!Number.isFinite(speed) || speed <= 0)
    throw new TypeError(`speed: expected a positive number, got ${speed}`);
  const realStartMs = performance.now();
  const nowMs =
    options.nowMs ??
    ((): number => Math.floor(simulator.startMs + (performance.now() - realStartMs) * speed));

  const server = createServer((req, res) => {
    readBody(req, (body) => {
      if (body === undefined) {
        res.writeHead(413, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { code: 'payload_too_large', message: 'the request body is too large' } }),
        );
        return;
      }
      let answer: SimResponse;
      try {
        answer = simulator.handle(
          { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
          nowMs(),
        );
      } catch (error) {
        // A bug in the simulator answers this request with a 500; it never takes the process down.
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'simulator_error', message: String(error) } }));
        return;
      }
      send(res, answer, speed);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    simulator,
    nowMs,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage, done: (body: string | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(chunk);
  });
  req.on('end', () => done(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
  req.on('error', () => done(undefined));
}

function send(res: ServerResponse, answer: SimResponse, speed: number): void {
  const timers = new Set<NodeJS.Timeout>();
  const later = (delayMs: number, action: () => void): void => {
    if (delayMs <= 0) {
      action();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!res.destroyed) action();
    }, delayMs / speed);
    timers.add(timer);
  };
  // A caller that hangs up stops the rest of its answer.
  res.on('close', () => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  });
  const events = answer.events;
  if (events === undefined) {
    later(answer.delayMs, () => {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    });
    return;
  }
  let index = 0;
  const writeDue = (): void => {
    const event = events[index];
    if (event === undefined) return;
    if (index === 0) {
      res.writeHead(answer.status, answer.headers);
      res.flushHeaders();
    }
    index += 1;
    if (index === events.length) res.end(event.data);
    else {
      res.write(event.data);
      const next = events[index];
      if (next !== undefined) later(next.atMs - event.atMs, writeDue);
    }
  };
  later(events[0]?.atMs ?? 0, writeDue);
  if (events.length === 0) {
    res.writeHead(answer.status, answer.headers);
    res.end();
  }
}
