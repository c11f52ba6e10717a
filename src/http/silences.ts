import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import {
  silenceFromRow,
  silenceState,
  validateMatcher,
  type Matcher,
  type Silence,
} from '../alerts/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { Store } from '../store/index.ts';

function invalid(field: string, message: string, value?: unknown): never {
  throw new HeadroomError(ErrorCode.badRequest, `${field}: ${message}`, {
    statusCode: 400,
    details: { field, ...(value === undefined ? {} : { value }) },
  });
}

function readString(body: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    if (required) invalid(field, 'is required: expected a non-empty string');
    return undefined;
  }
  if (typeof value !== 'string' || value.trim() === '') invalid(field, 'expected a non-empty string', value);
  return value;
}

function readTime(body: Record<string, unknown>, field: string): number | undefined {
  const text = readString(body, field, false);
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || !Number.isFinite(ms))
    invalid(field, 'expected an RFC 3339 time such as 2026-12-01T15:00:00Z', text);
  return ms;
}

function readMatchers(body: Record<string, unknown>): Matcher[] {
  const list = body['matchers'];
  if (!Array.isArray(list) || list.length === 0)
    invalid('matchers', 'expected a non-empty array of {name, value, isRegex, isEqual}');
  return list.map((item: unknown, i) => {
    const field = `matchers[${i}]`;
    if (typeof item !== 'object' || item === null)
      invalid(field, 'expected an object {name, value, isRegex, isEqual}');
    const m = item as Record<string, unknown>;
    if (typeof m['name'] !== 'string') invalid(`${field}.name`, 'expected a label name', m['name']);
    if (typeof m['value'] !== 'string') invalid(`${field}.value`, 'expected a string', m['value']);
    if (typeof m['isRegex'] !== 'boolean')
      invalid(`${field}.isRegex`, 'expected true or false', m['isRegex']);
    if (m['isEqual'] !== undefined && typeof m['isEqual'] !== 'boolean')
      invalid(`${field}.isEqual`, 'expected true or false', m['isEqual']);
    if (m['value'] === '' && m['isRegex'] === false && m['isEqual'] !== false)
      invalid(`${field}.value`, 'an empty value would match alerts without the label; expected a value');
    return validateMatcher(
      { name: m['name'], value: m['value'], isRegex: m['isRegex'], isEqual: m['isEqual'] !== false },
      field,
    );
  });
}

/** A silence as Alertmanager's API v2 (`GettableSilence`) shows it. */
export function silenceJson(s: Silence, nowMs: number): object {
  return {
    id: s.id,
    status: { state: silenceState(s, nowMs) },
    updatedAt: new Date(s.updatedAtMs).toISOString(),
    matchers: s.matchers,
    startsAt: new Date(s.startsAtMs).toISOString(),
    endsAt: new Date(s.endsAtMs).toISOString(),
    createdBy: s.createdBy,
    comment: s.comment,
  };
}

function toRow(s: Silence): Parameters<Store['writeSilence']>[0] {
  return {
    id: s.id,
    matchers: JSON.stringify(s.matchers),
    starts_at: s.startsAtMs,
    ends_at: s.endsAtMs,
    created_by: s.createdBy,
    comment: s.comment,
    updated_at: s.updatedAtMs,
  };
}

/**
 * Silences shaped like Alertmanager's API v2, so amtool habits carry over: `POST /v1/silences`
 * answers `{silenceID}` (with an `id` of an existing silence it replaces it), `GET /v1/silences`
 * lists them with their state, `DELETE /v1/silences/:id` expires one. Mutations take the admin
 * token when one is configured.
 */
export async function silencesPlugin(
  app: FastifyInstance,
  options: { store: Store; clock?: () => number },
): Promise<void> {
  const { store } = options;
  const clock = options.clock ?? Date.now;
  const find = async (id: string): Promise<Silence> => {
    const row = (await store.readSilences()).find((s) => s.id === id);
    if (row === undefined)
      throw new HeadroomError(ErrorCode.notFound, `no silence with id ${JSON.stringify(id)}`, {
        statusCode: 404,
        details: { field: 'id', value: id },
      });
    return silenceFromRow(row);
  };

  app.get('/v1/silences', async () => {
    const nowMs = clock();
    return (await store.readSilences()).map((row) => silenceJson(silenceFromRow(row), nowMs));
  });

  app.get<{ Params: { id: string } }>('/v1/silences/:id', async (request) =>
    silenceJson(await find(request.params.id), clock()),
  );

  app.post('/v1/silences', { config: { access: 'admin' } }, async (request) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      invalid('body', 'expected a JSON object {matchers, startsAt, endsAt, createdBy, comment}');
    const b = body as Record<string, unknown>;
    const nowMs = clock();
    const id = readString(b, 'id', false);
    if (id !== undefined) await find(id);
    const matchers = readMatchers(b);
    const startsAtMs = readTime(b, 'startsAt') ?? nowMs;
    const endsAtMs = readTime(b, 'endsAt') ?? invalid('endsAt', 'is required: expected an RFC 3339 time');
    if (endsAtMs <= startsAtMs) invalid('endsAt', 'must be after startsAt', new Date(endsAtMs).toISOString());
    if (endsAtMs <= nowMs)
      invalid('endsAt', 'is in the past: a silence must end in the future', new Date(endsAtMs).toISOString());
    const silence: Silence = {
      id: id ?? randomUUID(),
      matchers,
      startsAtMs: Math.max(startsAtMs, id === undefined ? startsAtMs : nowMs),
      endsAtMs,
      createdBy: readString(b, 'createdBy', true) ?? '',
      comment: readString(b, 'comment', true) ?? '',
      updatedAtMs: nowMs,
    };
    await store.writeSilence(toRow(silence));
    return { silenceID: silence.id };
  });

  app.delete<{ Params: { id: string } }>(
    '/v1/silences/:id',
    { config: { access: 'admin' } },
    async (request) => {
      const silence = await find(request.params.id);
      const nowMs = clock();
      // Expiring keeps the silence (for the record) and ends it now.
      if (silenceState(silence, nowMs) !== 'expired') {
        const expired: Silence = {
          ...silence,
          startsAtMs: Math.min(silence.startsAtMs, nowMs),
          endsAtMs: nowMs,
          updatedAtMs: Math.max(nowMs, silence.updatedAtMs + 1),
        };
        await store.writeSilence(toRow(expired));
        return silenceJson(expired, nowMs);
      }
      return silenceJson(silence, nowMs);
    },
  );
}
