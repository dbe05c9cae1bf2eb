// Edit requests as users write them, and their normalized form every method reads.
// `prompt` may hold `{}` where the subject goes, or the subject literally (then it is located and replaced, as
// EasyEdit does). Targets get a leading space, as the reference code adds (" Rome" is the token the model predicts).

export interface PromptAnswer {
  prompt: string;
  groundTruth: string;
}

export interface EditRequest {
  prompt: string;
  subject: string;
  targetNew: string;
  groundTruth?: string;
  rephrasePrompts?: string[];
  /** Named locality probes (e.g. neighborhood, other attributes): the answer should not change. */
  locality?: Record<string, PromptAnswer[]>;
  /** Named portability probes (subject alias, reversed relation, one-hop): the answer should follow the edit. */
  portability?: Record<string, PromptAnswer[]>;
  /** Identifier carried into results. */
  caseId?: string | number;
}

export interface NormalizedRequest extends EditRequest {
  /** The prompt with `{}` where the subject goes (exactly one). */
  template: string;
  /** The prompt with the subject filled in. */
  text: string;
  /** Target with a leading space. */
  targetNew: string;
  groundTruth?: string;
  /** Index of the request in the caller's list (for error messages). */
  index: number;
}

/** Adds the leading space the reference code adds to targets ("Rome" → " Rome"). */
export function withLeadingSpace(s: string): string {
  return s.startsWith(' ') ? s : ` ${s}`;
}

function describe(r: EditRequest, index: number): string {
  return `edit request ${index}${r.caseId !== undefined ? ` (case ${r.caseId})` : ''}`;
}

/** Validates a request and derives its template; errors name the request. */
export function normalizeRequest(r: EditRequest, index: number): NormalizedRequest {
  const where = describe(r, index);
  for (const key of ['prompt', 'subject', 'targetNew'] as const) {
    if (typeof r[key] !== 'string' || r[key].trim() === '') throw new Error(`${where}: '${key}' must be a non-empty string`);
  }
  if (r.groundTruth !== undefined && typeof r.groundTruth !== 'string') throw new Error(`${where}: 'groundTruth' must be a string`);
  const subject = r.subject.trim();
  let template: string;
  const holes = r.prompt.split('{}').length - 1;
  if (holes === 1) {
    template = r.prompt;
  } else if (holes > 1) {
    throw new Error(`${where}: prompt has ${holes} '{}' placeholders; exactly one is supported`);
  } else {
    const at = r.prompt.indexOf(subject);
    if (at < 0) throw new Error(`${where}: subject '${subject}' does not occur in the prompt '${r.prompt}' (write it there or use '{}')`);
    template = r.prompt.slice(0, at) + '{}' + r.prompt.slice(at + subject.length);
  }
  return {
    ...r,
    subject,
    template,
    text: template.replace('{}', subject),
    targetNew: withLeadingSpace(r.targetNew),
    groundTruth: r.groundTruth === undefined ? undefined : withLeadingSpace(r.groundTruth),
    index,
  };
}

export function normalizeRequests(rs: EditRequest[]): NormalizedRequest[] {
  if (!Array.isArray(rs) || rs.length === 0) throw new Error('edit: expected a non-empty list of requests');
  return rs.map(normalizeRequest);
}
