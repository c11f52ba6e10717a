/**
 * Self-metrics in the Prometheus text format: counters and gauges with labels, summaries of durations,
 * and collectors that read a value at scrape time (e.g. ingest counters kept by the ingest pipeline).
 */

export type Labels = Readonly<Record<string, string>>;

type Kind = 'counter' | 'gauge' | 'summary';

interface Family {
  name: string;
  help: string;
  kind: Kind;
  /** Serialised labels → value (a summary keeps `_sum` and `_count` under their own suffix). */
  values: Map<string, number>;
}

/** A sample read at scrape time. */
export interface Sample {
  name: string;
  help: string;
  kind: 'counter' | 'gauge';
  value: number;
  labels?: Labels;
}

export interface MetricsRegistry {
  /** Adds `by` (default 1) to a counter. */
  increment(name: string, help: string, labels?: Labels, by?: number): void;
  setGauge(name: string, help: string, value: number, labels?: Labels): void;
  /** Records one observation (e.g. a duration in seconds) into a summary's `_sum` and `_count`. */
  observe(name: string, help: string, value: number, labels?: Labels): void;
  /** Adds a source of samples read on every scrape. */
  collect(source: () => readonly Sample[]): void;
  /** The exposition text: `# HELP`, `# TYPE` and one line per series. */
  render(): string;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

export function createMetricsRegistry(): MetricsRegistry {
  const families = new Map<string, Family>();
  const sources: Array<() => readonly Sample[]> = [];

  const family = (name: string, help: string, kind: Kind): Family => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { name, help, kind, values: new Map() }));
    return f;
  };

  return {
    increment(name, help, labels, by = 1) {
      const f = family(name, help, 'counter');
      const key = labelText(labels);
      f.values.set(key, (f.values.get(key) ?? 0) + by);
    },
    setGauge(name, help, value, labels) {
      family(name, help, 'gauge').values.set(labelText(labels), value);
    },
    observe(name, help, value, labels) {
      const f = family(name, help, 'summary');
      const key = labelText(labels);
      f.values.set(`_sum${key}`, (f.values.get(`_sum${key}`) ?? 0) + value);
      f.values.set(`_count${key}`, (f.values.get(`_count${key}`) ?? 0) + 1);
    },
    collect(source) {
      sources.push(source);
    },
    render() {
      const lines: string[] = [];
      const all = new Map<string, Family>(families);
      for (const source of sources) {
        for (const sample of source()) {
          let f = all.get(sample.name);
          if (f === undefined) all.set(sample.name, (f = { ...sample, values: new Map<string, number>() }));
          f.values.set(labelText(sample.labels), sample.value);
        }
      }
      for (const f of all.values()) {
        lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.kind}`);
        for (const [key, value] of f.values) lines.push(`${f.name}${key} ${value}`);
      }
      return lines.join('\n') + '\n';
    },
  };
}
