export { fetchKeys, requestService } from './client.ts';
export { formatKeyTable } from './key-table.ts';
export type { KeyQuotaView, KeysView, KeyView } from './key-table.ts';
