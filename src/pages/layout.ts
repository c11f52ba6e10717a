import { esc } from './format.ts';

export interface LayoutOptions {
  title: string;
  /** Which navigation entry is the current page. */
  current?: 'overview' | 'alerts' | 'pool';
  /** The cycle the page shows; the script refreshes the page when a newer one completes. */
  evaluatedAt?: string | null;
  /** How often the script asks whether a cycle completed, ms; undefined: no live refresh. */
  pollMillis?: number;
  /** Breadcrumb links before the title, e.g. the pool of a key page. */
  crumbs?: Array<{ href: string; label: string }>;
  /** Whether a logout button is shown (a token protects the pages). */
  signedIn?: boolean;
}

/** The page shell: header with navigation, `<main>` (replaced in place on refresh), and the assets. */
export function renderLayout(body: string, options: LayoutOptions): string {
  const nav = (href: string, label: string, key: LayoutOptions['current']): string =>
    `<a href="${href}"${options.current === key ? ' aria-current="page"' : ''}>${label}</a>`;
  const crumbs = (options.crumbs ?? [])
    .map((c) => `<a href="${esc(c.href)}">${esc(c.label)}</a> / `)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${esc(options.title)} · headroom</title>
<link rel="stylesheet" href="/assets/headroom.css">
<script src="/assets/headroom.js" defer></script>
</head>
<body${options.pollMillis === undefined ? '' : ` data-poll-ms="${options.pollMillis}"`}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<nav aria-label="Main"><a class="brand" href="/">headroom</a>${nav('/', 'Overview', 'overview')}${nav('/alerts', 'Alerts', 'alerts')}</nav>
${options.signedIn === true ? '<form method="post" action="/logout"><button type="submit">Sign out</button></form>' : ''}
</header>
<main id="main" tabindex="-1"${options.evaluatedAt === undefined ? '' : ` data-evaluated-at="${esc(options.evaluatedAt ?? '')}"`}>
<h1>${crumbs}${esc(options.title)}</h1>
${body}
</main>
<p class="live" role="status" aria-live="polite"></p>
</body>
</html>
`;
}
