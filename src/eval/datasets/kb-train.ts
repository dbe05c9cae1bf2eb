// Training records for trained editors (MEND, KE, SERAC) generated from a knowledge base (kbgpt's kb.json), for people
// outside the evaluated slice (docs/training.md has the split). Seeded: the same arguments give the same records.
//
// For each person in the range and each relation: targetNew = another value of the relation (uniform), prompt = a
// TRAINING template (kb templates with held_out false), rephrasePrompts = two other training templates (held-out
// templates are never used, so the evaluation's rephrase templates stay unseen by the editor), locality = another
// person's fact in the range (neighborhood) and one other attribute of the same person (other_attribute), both with
// their true values.
import type { EditRequest } from '../../methods/request.js';
import { mulberry32 } from '../../util/random.js';
import { DatasetError } from './schema.js';
import { readKb, type Kb, type KbPerson } from './other-attribute.js';

export interface KbTrainOptions {
  /** Person ids, inclusive range [first, last]. */
  people: [number, number];
  seed: number;
  /** Relations to make records for (default: every relation of the knowledge base). */
  relations?: string[];
}

/** "133-199" → [133, 199]; errors name the option. */
export function parsePeopleRange(text: string, option: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  if (!m || Number(m[1]) > Number(m[2])) throw new DatasetError(`${option}: expected a person-id range FIRST-LAST (e.g. 200-399), got '${text}'`);
  return [Number(m[1]), Number(m[2])];
}

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)];
}

function trainingTemplates(kb: Kb, rel: string, file: string): string[] {
  const ts = (kb.templates[rel] ?? []).filter((t) => !t.held_out).map((t) => t.template);
  if (ts.length < 3) throw new DatasetError(`${file}: relation '${rel}' has ${ts.length} training templates; kb-train needs at least 3 (an edit prompt and two rephrases)`);
  return ts;
}

function valuesOf(kb: Kb & { values?: Record<string, string[]> }, rel: string): string[] {
  const listed = kb.values?.[rel];
  return listed && listed.length ? listed : [...new Set(kb.people.map((p) => p.attributes[rel]).filter((v) => v !== undefined))];
}

/** Edit requests for the people in `opts.people`, in person order then relation order. */
export function kbTrainingRequests(kbFile: string, opts: KbTrainOptions): EditRequest[] {
  const kb = readKb(kbFile);
  const [first, last] = opts.people;
  const people: KbPerson[] = kb.people.filter((p) => p.id >= first && p.id <= last);
  if (people.length < 2) throw new DatasetError(`${kbFile}: the person range ${first}-${last} holds ${people.length} people; at least 2 are needed (locality uses another person)`);
  const relations = opts.relations ?? Object.keys(kb.templates);
  for (const r of relations) if (!kb.templates[r]) throw new DatasetError(`${kbFile}: no relation '${r}' (relations: ${Object.keys(kb.templates).join(', ')})`);
  const rand = mulberry32(opts.seed);
  const out: EditRequest[] = [];
  for (const p of people) {
    for (const rel of relations) {
      const truth = p.attributes[rel];
      if (truth === undefined) continue;
      const others = valuesOf(kb, rel).filter((v) => v !== truth);
      if (!others.length) continue;
      const ts = trainingTemplates(kb, rel, kbFile);
      const ti = Math.floor(rand() * ts.length);
      const rest = ts.filter((_, i) => i !== ti);
      const r1 = Math.floor(rand() * rest.length);
      const r2 = (r1 + 1 + Math.floor(rand() * (rest.length - 1))) % rest.length;
      let q = pick(rand, people);
      while (q.id === p.id) q = pick(rand, people);
      const qRel = pick(rand, relations.filter((r) => q.attributes[r] !== undefined));
      const otherRels = relations.filter((r) => r !== rel && p.attributes[r] !== undefined);
      const oRel = otherRels.length ? pick(rand, otherRels) : undefined;
      out.push({
        caseId: `kb:${p.id}:${rel}`,
        prompt: ts[ti],
        subject: p.name,
        targetNew: pick(rand, others),
        groundTruth: truth,
        rephrasePrompts: [rest[r1].replace('{}', p.name), rest[r2].replace('{}', p.name)],
        locality: {
          neighborhood: [{ prompt: pick(rand, trainingTemplates(kb, qRel, kbFile)).replace('{}', q.name), groundTruth: q.attributes[qRel] }],
          ...(oRel ? { other_attribute: [{ prompt: trainingTemplates(kb, oRel, kbFile)[0].replace('{}', p.name), groundTruth: p.attributes[oRel] }] } : {}),
        },
      });
    }
  }
  return out;
}
