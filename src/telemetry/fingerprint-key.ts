import { createHash } from 'node:crypto';

/**
 * Stable, non-reversible identifier for an API key when no alias is configured: `fp_` followed by
 * the first 12 hex characters of SHA-256(secret) (DESIGN.md, `keypool.key.id`). 48 bits keep
 * collisions negligible within a pool while revealing nothing usable about the secret.
 */
export function fingerprintKey(secret: string): string {
  return `fp_${createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 12)}`;
}

// Secrets of the major providers start with these (OpenAI `sk-`, Anthropic `sk-ant-`, Google `AIza`,
// Groq `gsk_`, xAI `xai-`, GitHub `ghp_`/`gho_`/`github_pat_`, Hugging Face `hf_`, Stripe-style `rk_`/`pk_`).
const SECRET_PREFIX = /^(?:sk-|sk_|rk_|pk_|AIza|gsk_|xai-|ghp_|gho_|github_pat_|hf_|bearer\s)/i;
const OPAQUE_TOKEN = /^[A-Za-z0-9_\-.]{40,}$/;

/**
 * True when a key identifier looks like a secret rather than an alias or fingerprint: a known
 * provider prefix, or a long opaque token mixing letters and digits. Such an id is replaced by its
 * fingerprint before it is exported or stored.
 */
export function looksLikeSecret(keyId: string): boolean {
  if (keyId.startsWith('fp_')) return false;
  if (SECRET_PREFIX.test(keyId) && keyId.length >= 20) return true;
  return OPAQUE_TOKEN.test(keyId) && /\d/.test(keyId) && /[A-Za-z]/.test(keyId);
}
