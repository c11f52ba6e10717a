import { requestJson, type HttpAnswer } from '../../delivery/index.ts';
import type { IoResult } from '../../errors/index.ts';

/** POSTs a JSON body to a channel, classified as every delivery is (see `requestJson`). */
export function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMillis: number,
  nowMs: () => number = Date.now,
): Promise<IoResult<HttpAnswer>> {
  return requestJson(url, { method: 'POST', headers, body }, timeoutMillis, { now: nowMs });
}
