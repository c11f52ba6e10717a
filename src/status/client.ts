import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { KeysView } from './key-table.ts';

/**
 * `GET /v1/keys` of a running headroom (CLI commands never open the data directory: chDB lets one
 * process hold it). The admin token, when given, is sent as a bearer token.
 */
export async function fetchKeys(
  baseUrl: string,
  options: { pool?: string; adminToken?: string; timeoutMillis?: number } = {},
): Promise<KeysView> {
  const url = new URL('/v1/keys', baseUrl);
  if (options.pool !== undefined) url.searchParams.set('pool', options.pool);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: options.adminToken === undefined ? {} : { authorization: `Bearer ${options.adminToken}` },
      signal: AbortSignal.timeout(options.timeoutMillis ?? 10_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new HeadroomError(
      ErrorCode.serviceUnreachable,
      `cannot reach headroom at ${baseUrl} (${reason}): is \`headroom serve\` running there? ` +
        'Pass --url or set HEADROOM_HOST and HEADROOM_PORT',
      { cause: error },
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const answer = body as { code?: string; message?: string } | undefined;
    throw new HeadroomError(
      answer?.code ?? ErrorCode.serviceUnreachable,
      `headroom at ${baseUrl} answered ${response.status}: ${answer?.message ?? text.slice(0, 200)}`,
      { statusCode: response.status },
    );
  }
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { keys?: unknown }).keys)) {
    throw new HeadroomError(
      ErrorCode.serviceUnreachable,
      `${url.toString()} did not answer with a key list: is headroom (role all or analytics) listening there?`,
    );
  }
  return body as KeysView;
}
