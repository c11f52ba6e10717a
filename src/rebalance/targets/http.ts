import { ErrorCode, HeadroomError, type IoResult } from '../../errors/index.ts';
import { parseRetryAfter } from '../../telemetry/index.ts';

export interface HttpAnswer {
  status: number;
  text: string;
}

/** Statuses a gateway returns when trying again later can succeed. */
function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

/**
 * One HTTP request to a gateway's admin API. 2xx is `success`; 408, 425, 429 and 5xx are
 * `retryable` (with the gateway's Retry-After); any other status is a `failure` naming the status
 * and the start of the answer. A timeout or a transport error is `retryable`; an abort through
 * `signal` (shutdown) is a `failure`, so the retry wrapper stops.
 */
export async function requestGateway(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string },
  timeoutMillis: number,
  signal: AbortSignal,
): Promise<IoResult<HttpAnswer>> {
  const what = `${init.method} ${url}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: init.method,
      headers: {
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...init.headers,
      },
      ...(init.body === undefined ? {} : { body: init.body }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMillis)]),
      redirect: 'manual',
    });
    text = await response.text();
  } catch (error) {
    if (signal.aborted) {
      return {
        kind: 'failure',
        error: new HeadroomError(ErrorCode.pushUnavailable, `${what}: abandoned at shutdown`, {
          cause: error,
        }),
      };
    }
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    const detail = timedOut
      ? `no answer within ${timeoutMillis} ms`
      : `${(error as Error).message}${causeText(error)}`;
    return {
      kind: 'retryable',
      error: new HeadroomError(ErrorCode.pushUnavailable, `${what}: ${detail}`, { cause: error }),
    };
  }
  if (response.status >= 200 && response.status < 300) {
    return { kind: 'success', value: { status: response.status, text } };
  }
  const message = `${what}: HTTP ${response.status}${text.trim() === '' ? '' : `: ${text.trim().slice(0, 200)}`}`;
  if (retryableStatus(response.status)) {
    const retryAfter = response.headers.get('retry-after');
    const retryAfterMillis = retryAfter === null ? undefined : parseRetryAfter(retryAfter, Date.now());
    return {
      kind: 'retryable',
      error: new HeadroomError(ErrorCode.pushUnavailable, message),
      ...(retryAfterMillis === undefined ? {} : { retryAfterMillis }),
    };
  }
  return { kind: 'failure', error: new HeadroomError(ErrorCode.pushRejected, message) };
}

function causeText(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? ` (${cause.message})` : '';
}

export function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** Runs `step` for each item in order and stops at the first outcome that is not a success. */
export async function eachUntilFailure<T>(
  items: readonly T[],
  step: (item: T) => Promise<IoResult<unknown>>,
): Promise<IoResult<void>> {
  for (const item of items) {
    const result = await step(item);
    if (result.kind !== 'success') return result;
  }
  return { kind: 'success', value: undefined };
}
