import type { ProviderSimulator } from './simulator.ts';
import { anthropicAdapter } from './providers/anthropic.ts';
import { azureAdapter } from './providers/azure.ts';
import { jsonResponse, type ProviderAdapter, type RouteMatch } from './providers/common.ts';
import { geminiAdapter } from './providers/gemini.ts';
import { openAiAdapter } from './providers/openai.ts';
import type { ProviderFormat } from './scenario.ts';
import type { SimCall, SimRequest, SimResponse } from './types.ts';

/** One adapter per API format. */
const ADAPTERS: Readonly<Record<ProviderFormat, ProviderAdapter>> = {
  openai: openAiAdapter,
  anthropic: anthropicAdapter,
  azure: azureAdapter,
  gemini: geminiAdapter,
};

const AZURE_PATH = /^\/openai\/deployments\/([^/]+)\/chat\/completions\/?$/;
const GEMINI_PATH = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;
const MAX_BODY_CHARS = 4 * 1024 * 1024;

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function matchRoute(path: string, query: URLSearchParams): RouteMatch | undefined {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  if (trimmed === '/v1/chat/completions') return { format: 'openai', query };
  if (trimmed === '/v1/messages') return { format: 'anthropic', query };
  const azure = AZURE_PATH.exec(path);
  if (azure !== null) return { format: 'azure', deployment: decode(azure[1] ?? ''), query };
  const gemini = GEMINI_PATH.exec(path);
  if (gemini !== null) {
    return {
      format: 'gemini',
      pathModel: decode(gemini[1] ?? ''),
      streamMethod: gemini[2] === 'streamGenerateContent',
      query,
    };
  }
  return undefined;
}

function notFound(message: string): SimResponse {
  return jsonResponse(404, { error: { code: 'not_found', message } });
}

/** Routes one request: `/sim/state`, `/sim/stats`, or a provider call through its adapter. */
export function answerRequest(simulator: ProviderSimulator, request: SimRequest, nowMs: number): SimResponse {
  const questionMark = request.url.indexOf('?');
  const path = questionMark === -1 ? request.url : request.url.slice(0, questionMark);
  const query = new URLSearchParams(questionMark === -1 ? '' : request.url.slice(questionMark + 1));
  if (request.method === 'GET' && path === '/sim/state') return jsonResponse(200, simulator.state(nowMs));
  if (request.method === 'GET' && path === '/sim/stats') return jsonResponse(200, simulator.stats());

  const match = matchRoute(path, query);
  if (match === undefined) return notFound(`no route for ${request.method} ${path}`);
  if (request.method !== 'POST') return notFound(`${path} answers POST only`);
  const adapter = ADAPTERS[match.format];
  // Azure refuses a call without an api-version (a 404 "Resource not found" in practice).
  if (match.format === 'azure' && !query.has('api-version')) {
    return jsonResponse(404, { error: { code: '404', message: 'Resource not found' } });
  }
  const call = readCall(adapter, match, request);
  if (typeof call === 'string') {
    simulator.countBadRequest(nowMs);
    return adapter.badRequest(call);
  }
  return adapter.render(simulator.decide(call, nowMs), call);
}

function readCall(adapter: ProviderAdapter, match: RouteMatch, request: SimRequest): SimCall | string {
  const text = request.body ?? '';
  if (text.length > MAX_BODY_CHARS) return 'the request body is too large';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'the request body is not valid JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'the request body must be a JSON object';
  }
  return adapter.readCall(match, request, body as Record<string, unknown>);
}
