/**
 * What the request URL tells about a call: the server, the GenAI operation, the model when the
 * provider puts it in the path (Gemini, Vertex AI, Azure OpenAI deployments) and a `?key=` secret
 * (Gemini). Read with plain string operations: URL parsing is the largest fixed cost on the path.
 */
export interface RequestTarget {
  readonly serverAddress: string | undefined;
  readonly operation: string;
  readonly pathModel: string | undefined;
  /** Value of the `key` query parameter (Gemini API keys); never exported, only fingerprinted. */
  readonly querySecret: string | undefined;
}

/**
 * `gen_ai.operation.name` per path suffix (OpenAI-compatible, Anthropic, Azure OpenAI), the most
 * specific first; any other path is named after its last segment.
 */
const OPERATIONS_BY_SUFFIX: ReadonlyArray<readonly [suffix: string, operation: string]> = [
  ['/chat/completions', 'chat'],
  ['/messages/count_tokens', 'count_tokens'],
  ['/messages', 'chat'],
  ['/responses', 'chat'],
  ['/completions', 'text_completion'],
  ['/embeddings', 'embeddings'],
];

/** Gemini / Vertex AI methods (`models/{model}:{method}`). */
const OPERATIONS_BY_METHOD: ReadonlyMap<string, string> = new Map([
  ['generateContent', 'generate_content'],
  ['streamGenerateContent', 'generate_content'],
  ['embedContent', 'embeddings'],
  ['batchEmbedContents', 'embeddings'],
  ['predict', 'generate_content'],
  ['countTokens', 'count_tokens'],
]);

const GOOGLE_MODEL_PATH = /\/models\/([^/:]+):([A-Za-z]+)$/;
const AZURE_DEPLOYMENT_PATH = /\/deployments\/([^/]+)\//;

export function readRequestTarget(url: string): RequestTarget {
  const schemeEnd = url.indexOf('://');
  const hostStart = schemeEnd === -1 ? 0 : schemeEnd + 3;
  const hash = url.indexOf('#', hostStart);
  const end = hash === -1 ? url.length : hash;
  const question = url.indexOf('?', hostStart);
  const queryStart = question !== -1 && question < end ? question : -1;
  const pathEnd = queryStart === -1 ? end : queryStart;
  const slash = url.indexOf('/', hostStart);
  const pathStart = slash !== -1 && slash < pathEnd ? slash : -1;
  const authority = url.slice(hostStart, pathStart === -1 ? pathEnd : pathStart);
  const path = pathStart === -1 ? '/' : url.slice(pathStart, pathEnd);

  let operation: string | undefined;
  let pathModel: string | undefined;
  const google = GOOGLE_MODEL_PATH.exec(path);
  if (google !== null) {
    const method = google[2] as string;
    pathModel = safeDecode(google[1] as string);
    operation = OPERATIONS_BY_METHOD.get(method) ?? method;
  } else {
    const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    for (const [suffix, name] of OPERATIONS_BY_SUFFIX) {
      if (trimmed.endsWith(suffix)) {
        operation = name;
        break;
      }
    }
    operation ??= lastSegment(trimmed);
    const azure = AZURE_DEPLOYMENT_PATH.exec(path);
    if (azure !== null) pathModel = safeDecode(azure[1] as string);
  }

  return {
    serverAddress: hostOf(authority),
    operation,
    pathModel,
    querySecret: queryStart === -1 ? undefined : readQueryKey(url.slice(queryStart + 1, end)),
  };
}

function lastSegment(path: string): string {
  const segment = path.slice(path.lastIndexOf('/') + 1);
  return segment === '' ? 'unknown' : segment;
}

/** Host without user info and port; IPv6 literals keep no brackets (OpenTelemetry `server.address`). */
function hostOf(authority: string): string | undefined {
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close === -1 ? undefined : host.slice(1, close);
  }
  const colon = host.indexOf(':');
  const name = colon === -1 ? host : host.slice(0, colon);
  return name === '' ? undefined : name.toLowerCase();
}

function readQueryKey(query: string): string | undefined {
  for (const pair of query.split('&')) {
    if (pair.startsWith('key=')) {
      const value = safeDecode(pair.slice(4).replaceAll('+', ' '));
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

function safeDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
