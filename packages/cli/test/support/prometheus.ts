/**
 * A strict reader of the Prometheus text exposition format (0.0.4): `# HELP`, `# TYPE`, and
 * samples `name{label="value",…} number [timestamp]`. Throws on any line it cannot read, so
 * a test that parses `/metrics` with it fails on malformed output.
 */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

/** Values as Prometheus reads them (Go's ParseFloat: `NaN` and `Inf` in any case). */
function parseValue(text: string, line: string): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  if (lower === 'nan') return Number.NaN;
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) throw new Error(`bad sample value in: ${line}`);
  return value;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,?)/.exec(rest);
    if (!m) throw new Error(`bad labels in: ${line}`);
    labels[m[1] as string] = (m[2] as string).replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    rest = rest.slice(m[0].length);
    if (m[3] === '' && rest.length > 0) throw new Error(`bad labels in: ${line}`);
  }
  return labels;
}

export function parsePrometheusText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const familyOf = (sample: string): PromFamily => {
    const direct = families.get(sample);
    if (direct) return direct;
    for (const suffix of SUFFIXES) {
      if (sample.endsWith(suffix)) {
        const base = families.get(sample.slice(0, -suffix.length));
        if (base) return base;
      }
    }
    throw new Error(`sample ${sample} has no # TYPE line before it`);
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue;
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      const family = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      families.set(name, kind === 'HELP' ? { ...family, help: rest } : { ...family, type: rest });
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    familyOf(m[1] as string).samples.push({
      name: m[1] as string,
      labels: parseLabels(m[2] ?? '', line),
      value: parseValue(m[3] as string, line),
    });
  }
  for (const family of families.values()) {
    if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(family.type)) {
      throw new Error(`metric ${family.name} has unknown type ${family.type}`);
    }
  }
  return families;
}

/** The value of the one sample of `name` whose labels include `labels` (0 when absent). */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) return sample.value;
    }
  }
  return 0;
}
