/**
 * headroom's status pages as HTML: overview, pool, key, alerts and the login form, with server-drawn
 * SVG charts. Pure: a view in, a document out; the stylesheet and script are served from `assets/`.
 */
export {
  renderAlertsPage,
  renderKeyPage,
  renderLoginPage,
  renderMessagePage,
  renderOverviewPage,
  renderPoolPage,
} from './render.ts';
export type { PageContext } from './render.ts';
export { describeForecast } from './charts.ts';

/** Folder of the stylesheet and the script, served as `/assets/<name>`. */
export const ASSETS_DIR = new URL('./assets/', import.meta.url);
