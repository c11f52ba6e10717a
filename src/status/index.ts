export { fetchKeys, requestService } from './client.ts';
export { formatKeyTable } from './key-table.ts';
