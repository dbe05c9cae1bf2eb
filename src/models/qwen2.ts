// Qwen2 (Qwen2ForCausalLM): the Llama shape with q/k/v biases (always present) and no o_proj bias;
// rope_theta from config (1e6 in released models). Sliding-window attention is refused, not approximated.
import { llamaFamily } from './llama.js';

export const qwen2 = llamaFamily({ modelType: 'qwen2', qwenBiases: true, slidingWindowKey: 'sliding_window' });
