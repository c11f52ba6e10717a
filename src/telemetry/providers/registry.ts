import { anthropicParser } from './anthropic.ts';
import { azureOpenAiParser } from './azure-openai.ts';
import { gitHubParser } from './github.ts';
import { groqParser } from './groq.ts';
import type { HeaderParser } from './header-parser.ts';
import { ietfRateLimitParser } from './ietf-ratelimit.ts';
import { mistralParser } from './mistral.ts';
import { openAiParser } from './openai.ts';

/**
 * Header parsers per `gen_ai.provider.name` value, including the legacy `gen_ai.system`
 * spellings (OpenTelemetry GenAI semantic conventions, "gen_ai.provider.name" well-known values
 * and the deprecated `gen_ai.system` ones). Gemini and Vertex AI send no rate-limit headers: their
 * 429 bodies are read by google-rpc-body.ts for every provider.
 */
const PARSERS_BY_PROVIDER: ReadonlyMap<string, readonly HeaderParser[]> = new Map([
  ['openai', [openAiParser]],
  ['azure.ai.openai', [azureOpenAiParser]],
  ['az.ai.openai', [azureOpenAiParser]],
  ['azure_openai', [azureOpenAiParser]],
  ['azure.openai', [azureOpenAiParser]],
  ['anthropic', [anthropicParser]],
  ['groq', [groqParser]],
  ['mistral_ai', [mistralParser]],
  ['mistral', [mistralParser]],
  ['mistralai', [mistralParser]],
  ['gcp.gemini', []],
  ['gemini', []],
  ['gcp.vertex_ai', []],
  ['vertex_ai', []],
  ['gcp.gen_ai', []],
  ['github', [gitHubParser]],
]);

/**
 * For an unknown provider every family is tried; header names do not overlap between families,
 * and the order only matters when two families report the same dimension (first wins).
 */
const ALL_PARSERS: readonly HeaderParser[] = [anthropicParser, openAiParser, mistralParser, gitHubParser];

/**
 * The standard IETF fields are read for every provider after its own family, filling only the
 * dimensions the provider-specific headers left empty.
 */
const STANDARD_PARSERS: readonly HeaderParser[] = [ietfRateLimitParser];

export interface ParserSelection {
  readonly parsers: readonly HeaderParser[];
  readonly providerKnown: boolean;
}

const UNKNOWN_PROVIDER: ParserSelection = {
  parsers: [...ALL_PARSERS, ...STANDARD_PARSERS],
  providerKnown: false,
};

const SELECTIONS: ReadonlyMap<string, ParserSelection> = new Map(
  [...PARSERS_BY_PROVIDER].map(([name, parsers]) => [
    name,
    { parsers: [...parsers, ...STANDARD_PARSERS], providerKnown: true },
  ]),
);

/** Parsers to run for a `gen_ai.provider.name` (or legacy `gen_ai.system`) value. */
export function selectHeaderParsers(provider: string | undefined): ParserSelection {
  if (provider === undefined) return UNKNOWN_PROVIDER;
  return SELECTIONS.get(provider) ?? SELECTIONS.get(provider.trim().toLowerCase()) ?? UNKNOWN_PROVIDER;
}
