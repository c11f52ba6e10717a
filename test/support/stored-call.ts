/**
 * The `api_calls` columns the SDK and ingest tests read back, as ClickHouse returns them (64-bit
 * counts as strings).
 */
export interface StoredCallColumns {
  span_name: string;
  service_name: string;
  gateway_node: string;
  key_id: string;
  partition: string;
  consumer: string;
  provider: string;
  operation: string;
  request_model: string;
  response_model: string;
  server_address: string;
  status_code: number;
  error_type: string;
  outcome: string;
  input_tokens: string;
  output_tokens: string;
  cached_input_tokens: string;
  cost_usd: number | null;
  retry_after_ms: string | null;
}
