import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerMatches } from '../auth/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';

/**
 * Who may call a route, declared in its `config.access`:
 * - `open`: anyone (health, readiness, the read API);
 * - `ingest`: a bearer token of `HEADROOM_INGEST_TOKENS` when some are configured;
 * - `admin`: the admin bearer token, or a page session, when `HEADROOM_ADMIN_TOKEN` is set;
 * - `page`: like admin, but a browser without a session is sent to the login form.
 */
export type Access = 'open' | 'ingest' | 'admin' | 'page';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

export const SESSION_COOKIE = 'headroom_session';
const SESSION_TTL_MS = 12 * 3_600_000;

/** Page sessions: random ids held in memory (a restart asks for the token again). */
export interface Sessions {
  create(nowMs: number): { id: string; maxAgeSeconds: number };
  valid(id: string | undefined, nowMs: number): boolean;
  end(id: string | undefined): void;
}

export function createSessions(): Sessions {
  const expiries = new Map<string, number>();
  return {
    create(nowMs) {
      for (const [id, expiresAtMs] of expiries) if (expiresAtMs <= nowMs) expiries.delete(id);
      const id = randomBytes(32).toString('base64url');
      expiries.set(id, nowMs + SESSION_TTL_MS);
      return { id, maxAgeSeconds: SESSION_TTL_MS / 1000 };
    },
    valid(id, nowMs) {
      if (id === undefined) return false;
      const expiresAtMs = expiries.get(id);
      return expiresAtMs !== undefined && expiresAtMs > nowMs;
    },
    end(id) {
      if (id !== undefined) expiries.delete(id);
    },
  };
}

/** The value of one cookie of the request, if sent. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** The one auth hook: every route's `config.access` decides what it asks for (default `open`). */
export function installAuth(
  app: FastifyInstance,
  options: { ingestTokens: readonly string[]; adminToken: string | undefined; sessions: Sessions },
): void {
  const { ingestTokens, adminToken, sessions } = options;
  const adminAllowed = (request: FastifyRequest): boolean =>
    adminToken === undefined ||
    bearerMatches(request.headers.authorization, [adminToken]) ||
    sessions.valid(readCookie(request, SESSION_COOKIE), Date.now());

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = request.routeOptions.config.access ?? 'open';
    if (access === 'open') return;
    if (access === 'ingest') {
      if (ingestTokens.length === 0 || bearerMatches(request.headers.authorization, ingestTokens)) return;
      throw new HeadroomError(
        ErrorCode.unauthorized,
        'missing or invalid ingest token: send Authorization: Bearer <token> with one of HEADROOM_INGEST_TOKENS',
        { statusCode: 401 },
      );
    }
    if (adminAllowed(request)) return;
    if (access === 'page') {
      const next = encodeURIComponent(request.url);
      return reply.redirect(`/login?next=${next}`, 303);
    }
    throw new HeadroomError(
      ErrorCode.unauthorized,
      'missing or invalid admin token: send Authorization: Bearer <HEADROOM_ADMIN_TOKEN>',
      { statusCode: 401 },
    );
  });
}
