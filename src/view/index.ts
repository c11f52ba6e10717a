/**
 * The one view model of pools, keys, advice and alerts: the JSON API serialises it, the pages render
 * it. Pure: analytics snapshots and stored rows in, plain objects out.
 */
export type {
  AdviceView,
  AlertEventView,
  AlertsView,
  AlertView,
  CapacityView,
  KeysView,
  KeyView,
  PartitionView,
  PoolsView,
  PoolView,
  QuotaView,
} from './schemas.ts';
export { AdviceViewSchema, AlertsViewSchema, KeysViewSchema, PoolsViewSchema } from './schemas.ts';
export type { SilenceMatcher } from './model.ts';
export {
  buildAdviceView,
  buildAlertsView,
  buildKeysView,
  buildPoolsView,
  buildPoolView,
  buildQuotaView,
} from './model.ts';
export type {
  HealthView,
  KeyPageView,
  KeyRow,
  OverviewPool,
  OverviewView,
  PoolPageView,
  QuotaChart,
  Risk,
  WeightSeries,
} from './pages.ts';
export {
  assessQuotaRisk,
  buildKeyPage,
  buildKeyRow,
  buildOverview,
  buildPoolPage,
  buildQuotaChart,
  rankKeyRows,
} from './pages.ts';
export { pagePathFor, pageUrlFor } from './links.ts';
export type { PageSubject } from './links.ts';
