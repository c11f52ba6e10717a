/** The gateway's own counters, rendered as Prometheus text on `GET /metrics`. */
export class GatewayMetrics {
  readonly #counters = new Map<string, { help: string; values: Map<string, number> }>();

  constructor() {
    this.#define('headroom_gateway_requests_total', 'Client requests proxied, by pool.');
    this.#define(
      'headroom_gateway_upstream_calls_total',
      'Upstream calls, by pool, key alias and keypool outcome.',
    );
    this.#define('headroom_gateway_retries_total', 'Failed calls tried again on another key, by pool.');
    this.#define(
      'headroom_gateway_keys_exhausted_total',
      'Answers 429 Keys Temporarily Exhausted (no usable key), by pool.',
    );
    this.#define('headroom_gateway_advice_polls_total', 'Advice and simulator polls, by pool and result.');
    this.#define(
      'headroom_gateway_admin_pushes_total',
      'Weights pushed through the admin API, by pool and result.',
    );
  }

  #define(name: string, help: string): void {
    this.#counters.set(name, { help, values: new Map() });
  }

  increment(name: string, labels: Readonly<Record<string, string>>): void {
    const counter = this.#counters.get(name);
    if (counter === undefined) throw new Error(`unknown metric ${name}`);
    const key = Object.entries(labels)
      .map(
        ([label, value]) => `${label}="${value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`,
      )
      .join(',');
    counter.values.set(key, (counter.values.get(key) ?? 0) + 1);
  }

  /** Current value of one series, e.g. for tests and the admin view. */
  value(name: string, labels: Readonly<Record<string, string>>): number {
    const key = Object.entries(labels)
      .map(([label, value]) => `${label}="${value}"`)
      .join(',');
    return this.#counters.get(name)?.values.get(key) ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, counter] of this.#counters) {
      lines.push(`# HELP ${name} ${counter.help}`, `# TYPE ${name} counter`);
      for (const [labels, value] of counter.values) lines.push(`${name}{${labels}} ${value}`);
    }
    const rss = process.memoryUsage.rss();
    lines.push(
      '# HELP process_resident_memory_bytes Resident memory of the gateway process.',
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${rss}`,
    );
    return lines.join('\n') + '\n';
  }
}
