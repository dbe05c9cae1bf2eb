// Which demonstrations go before a new fact, and in what order. Two recipes:
//   sentences (EasyEdit ike_main.py): the k demonstrations most similar to the edit's query sentence, among all
//             3 per pool record, whatever their kind;
//   records   (the IKE repo's icl.py::construct_icl_examples): the k nearest pool records, each giving one
//             demonstration whose kind is drawn from the repo's mix of 4 copy, 12 update and 16 retain per 32,
//             shuffled (seeded here).
// Order: EasyEdit keeps the retrieval order (most similar first, farthest from the query); the IKE repo reverses it
// (most similar last, next to the query).
import type { Retriever } from '../../retrieval/index.js';
import type { Demonstration, DemonstrationKind } from './demos.js';
import { mulberry32, stringSeed } from '../../util/random.js';

export interface SelectionSettings {
  k: number;
  selection: 'sentences' | 'records';
  order: 'most_similar_first' | 'most_similar_last';
  seed: number;
}

/** icl.py's `order` list: 0 copy, 1 update, 2 retain. */
const IKE_REPO_KINDS = [2, 1, 2, 0, 1, 2, 2, 0, 2, 2, 1, 0, 2, 1, 2, 0, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2];
const KIND_NAMES: DemonstrationKind[] = ['copy', 'update', 'retain'];

/** Indices (into `demos`) of the demonstrations for a fact whose retrieval query is `query`, in context order. */
export function selectDemonstrations(demos: readonly Demonstration[], retriever: Retriever, query: string, s: SelectionSettings): number[] {
  if (s.k === 0 || demos.length === 0) return [];
  const picked = s.selection === 'sentences'
    ? retriever.topK(query, s.k).map((h) => h.index)
    : byRecords(demos, retriever, query, s.k, seededRandom(s.seed, query));
  return s.order === 'most_similar_last' ? picked.reverse() : picked;
}

function byRecords(demos: readonly Demonstration[], retriever: Retriever, query: string, k: number, random: () => number): number[] {
  // a record is as near as its nearest demonstration (the IKE repo searched sentence embeddings)
  const records: number[] = [];
  for (const hit of retriever.topK(query, retriever.size)) {
    const r = demos[hit.index].record;
    if (!records.includes(r)) records.push(r);
    if (records.length === k) break;
  }
  const kinds: DemonstrationKind[] = [];
  while (kinds.length < records.length) kinds.push(...shuffle([...IKE_REPO_KINDS], random).map((i) => KIND_NAMES[i]));
  return records.map((r, i) => {
    const own = demos.map((d, j) => ({ d, j })).filter(({ d }) => d.record === r);
    // a record without a paraphrase or a neighbour gives its copy demonstration instead
    return (own.find(({ d }) => d.kind === kinds[i]) ?? own[0]).j;
  });
}

/** Fisher–Yates with the given uniform [0, 1) source. */
function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** mulberry32 seeded by the session seed and the query (the same fact always draws the same kinds). */
function seededRandom(seed: number, query: string): () => number {
  return mulberry32(stringSeed(seed, query));
}
