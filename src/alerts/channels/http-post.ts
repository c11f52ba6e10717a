import type { IoResult } from '../../errors/index.ts';
import { parseRetryAfter } from '../../telemetry/index.ts';

/**
 * POSTs a JSON body and classifies the answer: 2xx success; 408, 429 and 5xx (with Retry-After
 * when given) and transport errors retryable; other 4xx failures, since repeating them cannot help.
 */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMillis: number,
  nowMs: () => number = Date.now,
): Promise<IoResult<{ status: number; text: string }>> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMillis),
    });
  } catch (error) {
    return {
      kind: 'retryable',
      error: new Error(`POST ${url}: ${(error as Error).message}`, { cause: error }),
    };
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return { kind: 'success', value: { status: response.status, text } };
  const error = new Error(`POST ${url}: HTTP ${response.status} ${text.slice(0, 200)}`);
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    const retryAfter = response.headers.get('retry-after');
    const retryAfterMillis = retryAfter === null ? undefined : parseRetryAfter(retryAfter, nowMs());
    return retryAfterMillis === undefined
      ? { kind: 'retryable', error }
      : { kind: 'retryable', error, retryAfterMillis };
  }
  return { kind: 'failure', error };
}
