// Locating where a model stores a fact: causal tracing (one case) and its average over many cases.
export * from './causal-trace.js';
export * from './average.js';
