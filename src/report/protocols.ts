// How the report shows each evaluation protocol: its short label, the order of its table columns and which metrics
// its plots draw. A metrics group of summary.json is keyed by the protocol's tag (src/eval/*-protocol.ts); the
// report keeps every tag apart, so numbers of two protocols never share a column or a plot. Tags without a layout
// here (a new protocol, another task) are shown with every key they carry.

export interface ProtocolLayout {
  tag: string;
  /** Prefix of the table headers and the plot titles ("ROME ES", "EasyEdit Reliability"). */
  label: string;
  /** Table columns in this order when present; any other key the runs carry follows, sorted. */
  columns: string[];
  /** Display names of keys (EasyEdit's lower-case names capitalised as in its papers). */
  names?: Record<string, string>;
  /** Metrics of the batch-size and sequential-edits line plots. */
  lines: string[];
  /** Metrics of the bar plot. */
  bars: string[];
}

const LAYOUTS: ProtocolLayout[] = [
  {
    // kmeng01/rome CounterFact: efficacy, paraphrase and neighbourhood success, S, and the magnitudes.
    tag: 'rome-counterfact-prob', label: 'ROME',
    columns: ['ES', 'PS', 'NS', 'S', 'EM', 'PM', 'NM'], lines: ['ES', 'PS', 'NS'], bars: ['ES', 'PS', 'NS', 'S'],
  },
  {
    tag: 'easyedit-token', label: 'EasyEdit',
    columns: ['reliability', 'generalization', 'locality', 'portability'],
    names: { reliability: 'Reliability', generalization: 'Generalization', locality: 'Locality', portability: 'Portability' },
    lines: ['reliability', 'generalization', 'locality'], bars: ['reliability', 'generalization', 'locality', 'portability'],
  },
  {
    tag: 'rome-zsre-token', label: 'zsRE',
    columns: ['efficacy', 'paraphrase', 'specificity', 'score'],
    lines: ['efficacy', 'paraphrase', 'specificity'], bars: ['efficacy', 'paraphrase', 'specificity', 'score'],
  },
  {
    // the success definitions of the reference ROME runs in golden/ (first-token comparison, arg-max unchanged)
    tag: 'rome-first-token', label: 'First-token',
    columns: ['success_prompt', 'success_rephrase', 'locality_argmax_unchanged'],
    names: { success_prompt: 'prompt', success_rephrase: 'rephrase', locality_argmax_unchanged: 'locality' },
    lines: ['success_prompt', 'success_rephrase', 'locality_argmax_unchanged'],
    bars: ['success_prompt', 'success_rephrase', 'locality_argmax_unchanged'],
  },
  {
    // n-gram entropy and TF-IDF similarity ×100: not bounded by 100 and of different scales, so no plots.
    tag: 'generation', label: 'Generation', columns: ['fluency', 'consistency'], lines: [], bars: [],
  },
  {
    // multiple-choice accuracy on another task before and after editing
    tag: 'other-task', label: 'Other task', columns: ['accuracy'], lines: ['accuracy'], bars: ['accuracy'],
  },
];

/** The layout of a protocol tag; an unknown tag is labelled by itself and plots every key it has. */
export function layoutFor(tag: string): ProtocolLayout & { known: boolean } {
  const l = LAYOUTS.find((x) => x.tag === tag);
  return l ? { ...l, known: true } : { tag, label: tag, columns: [], lines: [], bars: [], known: false };
}

/** Protocol tags in report order: the known ones as listed above, then the others by name. */
export function orderTags(tags: Iterable<string>): string[] {
  const set = new Set(tags);
  const known = LAYOUTS.map((l) => l.tag).filter((t) => set.has(t));
  return [...known, ...[...set].filter((t) => !known.includes(t)).sort()];
}

/** Keys of a protocol in display order: its layout's columns, then the rest sorted; `n` is not a metric. */
export function orderKeys(tag: string, present: Iterable<string>): string[] {
  const set = new Set([...present].filter((k) => k !== 'n'));
  const fixed = layoutFor(tag).columns.filter((k) => set.has(k));
  return [...fixed, ...[...set].filter((k) => !fixed.includes(k)).sort()];
}

export function metricName(tag: string, key: string): string {
  return layoutFor(tag).names?.[key] ?? key;
}

/**
 * The --metrics selection. Each item is a metric key (`ES`, `reliability`, `portability.*`), a protocol (its tag or
 * label: everything of it) or `tag:key`; matching ignores case, a trailing `*` matches a prefix. No items = all.
 */
export class MetricFilter {
  private readonly items: { protocol?: string; key?: string }[];

  constructor(items: string[] = []) {
    this.items = items.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean).map((s) => {
      const colon = s.indexOf(':');
      if (colon >= 0) return { protocol: s.slice(0, colon), key: s.slice(colon + 1) || '*' };
      return LAYOUTS.some((l) => same(l.tag, s) || same(l.label, s)) ? { protocol: s } : { key: s };
    });
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  /** Whether a table column of this protocol and key is shown. */
  includes(tag: string, key: string): boolean {
    return this.empty || this.items.some((i) => this.protocolMatches(i.protocol, tag) && (i.key === undefined || keyMatches(i.key, key)));
  }

  /**
   * Metrics a plot of this protocol draws: the keys named explicitly for it when there are any, else the layout's
   * defaults that pass the filter (unknown protocols: every key).
   */
  forPlot(tag: string, defaults: string[], present: string[]): string[] {
    const explicit = this.items.filter((i) => i.key !== undefined && this.protocolMatches(i.protocol, tag));
    if (explicit.length > 0) return present.filter((k) => explicit.some((i) => keyMatches(i.key!, k)));
    const base = layoutFor(tag).known ? defaults : present;
    return base.filter((k) => present.includes(k) && this.includes(tag, k));
  }

  private protocolMatches(protocol: string | undefined, tag: string): boolean {
    return protocol === undefined || same(protocol, tag) || same(protocol, layoutFor(tag).label);
  }
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function keyMatches(pattern: string, key: string): boolean {
  const p = pattern.toLowerCase();
  return p.endsWith('*') ? key.toLowerCase().startsWith(p.slice(0, -1)) : key.toLowerCase() === p;
}
