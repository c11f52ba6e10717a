/** What a page is about: a pool, or a key or partition of a pool. */
export interface PageSubject {
  pool: string;
  /** `pool`, `key` or `partition`; any other kind links to the pool's page. */
  kind: string;
  id?: string;
}

/** Path of a subject's page: `/pools/<pool>`, `/pools/<pool>/keys/<key>`; a partition links to its pool's page. */
export function pagePathFor(subject: PageSubject): string {
  const pool = `/pools/${encodeURIComponent(subject.pool)}`;
  if (subject.kind === 'key' && subject.id !== undefined)
    return `${pool}/keys/${encodeURIComponent(subject.id)}`;
  if (subject.kind === 'partition' && subject.id !== undefined)
    return `${pool}#partition-${encodeURIComponent(subject.id)}`;
  return pool;
}

/**
 * Absolute link to a subject's page under the public URL headroom is reached at (`HEADROOM_PUBLIC_URL`),
 * for Slack messages and webhook payloads; undefined when no public URL is configured.
 */
export function pageUrlFor(subject: PageSubject, publicUrl: string | undefined): string | undefined {
  if (publicUrl === undefined) return undefined;
  return publicUrl.replace(/\/+$/, '') + pagePathFor(subject);
}
