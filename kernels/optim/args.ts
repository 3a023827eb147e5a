// kernels/optim/args.ts: the arguments of the update rules, shared by the kernels (./dispatch.ts) and the float64
// references (./reference.ts), so the two cannot disagree about what a rule is given.

/** Adam and AdamW (torch.optim.Adam / AdamW), the same for every tensor of a step. */
export interface AdamArgs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** true: AdamW's decoupled decay p ← p·(1 − lr·wd); false: Adam's L2 term g ← g + wd·p. */
  decoupled: boolean;
}

/** SGD with momentum / Nesterov (torch.optim.SGD). */
export interface SgdArgs {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** Per tensor: its 1-based step count after the increment (Adam's bias corrections; SGD's first momentum step). */
export type Step = number;
