// Padding a batch of token-id rows to one width, with the attention mask (1 = real token, 0 = padding).
// Right padding keeps each row's positions at 0..n-1 (scoring, value optimisation); left padding puts every row's
// last token in the last column (generation).

export interface PaddedBatch {
  ids: number[][];
  mask: number[][];
}

export function padBatch(rows: number[][], side: 'right' | 'left' = 'right', padId = 0): PaddedBatch {
  const width = Math.max(...rows.map((r) => r.length));
  const pad = (n: number, v: number): number[] => new Array<number>(n).fill(v);
  return side === 'right'
    ? { ids: rows.map((r) => [...r, ...pad(width - r.length, padId)]), mask: rows.map((r) => [...pad(r.length, 1), ...pad(width - r.length, 0)]) }
    : { ids: rows.map((r) => [...pad(width - r.length, padId), ...r]), mask: rows.map((r) => [...pad(width - r.length, 0), ...pad(r.length, 1)]) };
}
