import { ErrorCode, HeadroomError, type IoResult } from '../errors/index.ts';
import { parseRetryAfter } from '../telemetry/index.ts';

export interface HttpAnswer {
  status: number;
  text: string;
}

/** Statuses after which trying again later can succeed. */
function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

function causeText(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? ` (${cause.message})` : '';
}

/**
 * One HTTP request to a receiver headroom delivers to on its own initiative (an alert channel, a
 * gateway's admin API, a webhook), classified for the retry wrapper: 2xx is `success`; 408, 425,
 * 429 and 5xx are `retryable` (with the receiver's Retry-After); any other status is a `failure`
 * naming the status and the start of the answer, since repeating it cannot help. A timeout or a
 * transport error is `retryable`; an abort through `signal` (shutdown) is a `failure`, so the retry
 * wrapper stops.
 */
export async function requestJson(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string },
  timeoutMillis: number,
  options: { signal?: AbortSignal; now?: () => number } = {},
): Promise<IoResult<HttpAnswer>> {
  const what = `${init.method} ${url}`;
  const timeout = AbortSignal.timeout(timeoutMillis);
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
      signal: options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]),
      redirect: 'manual',
    });
    text = await response.text();
  } catch (error) {
    if (options.signal?.aborted === true) {
      return {
        kind: 'failure',
        error: new HeadroomError(ErrorCode.deliveryUnavailable, `${what}: abandoned at shutdown`, {
          cause: error,
        }),
      };
    }
    const detail = timeout.aborted
      ? `no answer within ${timeoutMillis} ms`
      : `${(error as Error).message}${causeText(error)}`;
    return {
      kind: 'retryable',
      error: new HeadroomError(ErrorCode.deliveryUnavailable, `${what}: ${detail}`, { cause: error }),
    };
  }
  if (response.status >= 200 && response.status < 300) {
    return { kind: 'success', value: { status: response.status, text } };
  }
  const message = `${what}: HTTP ${response.status}${text.trim() === '' ? '' : `: ${text.trim().slice(0, 200)}`}`;
  if (retryableStatus(response.status)) {
    const retryAfter = response.headers.get('retry-after');
    const retryAfterMillis =
      retryAfter === null ? undefined : parseRetryAfter(retryAfter, (options.now ?? Date.now)());
    return {
      kind: 'retryable',
      error: new HeadroomError(ErrorCode.deliveryUnavailable, message),
      ...(retryAfterMillis === undefined ? {} : { retryAfterMillis }),
    };
  }
  return { kind: 'failure', error: new HeadroomError(ErrorCode.deliveryRejected, message) };
}
