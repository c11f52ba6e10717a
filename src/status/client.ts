import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { KeysView } from '../view/index.ts';

/**
 * One call to the HTTP API of a running headroom (CLI commands never open the data directory: chDB
 * lets one process hold it), answering the parsed JSON body. The admin token, when given, is sent as
 * a bearer token; an error answer becomes a {@link HeadroomError} with the service's code and message.
 */
export async function requestService(
  baseUrl: string,
  path: string,
  options: { method?: string; body?: object; adminToken?: string; timeoutMillis?: number } = {},
): Promise<unknown> {
  const url = new URL(path, baseUrl);
  const headers: Record<string, string> = {};
  if (options.adminToken !== undefined) headers['authorization'] = `Bearer ${options.adminToken}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method ?? 'GET',
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
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
  return body;
}

/** `GET /v1/keys` of a running headroom. */
export async function fetchKeys(
  baseUrl: string,
  options: { pool?: string; adminToken?: string; timeoutMillis?: number } = {},
): Promise<KeysView> {
  const path = options.pool === undefined ? '/v1/keys' : `/v1/keys?pool=${encodeURIComponent(options.pool)}`;
  const body = await requestService(baseUrl, path, options);
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { keys?: unknown }).keys)) {
    throw new HeadroomError(
      ErrorCode.serviceUnreachable,
      `${new URL(path, baseUrl).toString()} did not answer with a key list: is headroom (role all or analytics) listening there?`,
    );
  }
  return body as KeysView;
}
