/** The gateway's own counters, rendered as Prometheus text on `GET /metrics`. */
export class GatewayMetrics {
  readonly #counters = new Map<string, { help: string; values: Map<string, number> }>();
  /** Rendered label sets by their values, so that the hot path formats each series once. */
  readonly #labelText = new Map<string, string>();

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
    this.#define(
      'headroom_gateway_spilled_total',
      'Requests sent to a fallback pool by the advice’s spill, by pool and fallback pool (to).',
    );
  }

  #define(name: string, help: string): void {
    this.#counters.set(name, { help, values: new Map() });
  }

  increment(name: string, labels: Readonly<Record<string, string>>): void {
    const counter = this.#counters.get(name);
    if (counter === undefined) throw new Error(`unknown metric ${name}`);
    const key = this.#render(labels);
    counter.values.set(key, (counter.values.get(key) ?? 0) + 1);
  }

  /** Current value of one series, e.g. for tests and the admin view. */
  value(name: string, labels: Readonly<Record<string, string>>): number {
    return this.#counters.get(name)?.values.get(this.#render(labels)) ?? 0;
  }

  #render(labels: Readonly<Record<string, string>>): string {
    let id = '';
    for (const label in labels) id += `${label}\u0000${labels[label]}\u0000`;
    let text = this.#labelText.get(id);
    if (text === undefined) {
      text = Object.entries(labels)
        .map(
          ([label, value]) =>
            `${label}="${value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`,
        )
        .join(',');
      this.#labelText.set(id, text);
    }
    return text;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, counter] of this.#counters) {
      lines.push(`# HELP ${name} ${counter.help}`, `# TYPE ${name} counter`);
      for (const [labels, value] of counter.values) lines.push(`${name}{${labels}} ${value}`);
    }
    lines.push(
      '# HELP process_resident_memory_bytes Resident memory of the gateway process.',
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
    );
    return lines.join('\n') + '\n';
  }
}
