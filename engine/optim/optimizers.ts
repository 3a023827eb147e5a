// engine/optim/optimizers.ts: SGD, Adam and AdamW with torch.optim's update rules and defaults. A step updates all
// parameters in a few multi-tensor dispatches (kernels/optim/dispatch.ts; `foreach`), or with `foreach: false` the
// same kernel once per parameter.
import { adamStep, sgdStep, type AdamItem } from '../../kernels/optim/dispatch';
import { ValueError } from '../errors';
import type { Tensor } from '../tensor';
import { Optimizer, checkForeach, checkNumber, withDefaults, type StepItem } from './optimizer';

export interface SGDOptions {
  lr: number;
  /** Momentum factor μ; 0 = plain SGD (no state). */
  momentum?: number;
  /** Dampening of the momentum blend: buf ← μ·buf + (1 − dampening)·d. */
  dampening?: number;
  /** L2 penalty: d = g + wd·p. */
  weightDecay?: number;
  /** Nesterov momentum: d ← d + μ·buf (needs momentum > 0 and dampening = 0). */
  nesterov?: boolean;
  /** Multi-tensor updates (default: setForeach's, true); false: one dispatch per parameter. Not part of `defaults`. */
  foreach?: boolean;
}

/** torch.optim.SGD: d = g + wd·p; buf ← d (first step) or μ·buf + (1 − dampening)·d; d ← Nesterov ? d + μ·buf : buf; p ← p − lr·d. */
export class SGD extends Optimizer<Required<Omit<SGDOptions, 'foreach'>>> {
  constructor(params: Iterable<Tensor> | Tensor[], opts: SGDOptions) {
    if (opts?.lr === undefined) throw new ValueError('SGD: lr is required (torch.optim.SGD(params, lr=…)); pass {lr: 0.01} or similar');
    const { foreach, ...rest } = opts;
    const fe = checkForeach('SGD', foreach);
    const o = withDefaults<Required<Omit<SGDOptions, 'foreach'>>>({ lr: NaN, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false }, rest);
    checkNumber('SGD', 'momentum', o.momentum);
    checkNumber('SGD', 'dampening', o.dampening);
    checkNumber('SGD', 'weightDecay', o.weightDecay);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) throw new ValueError(`SGD: nesterov needs momentum > 0 and dampening = 0 (got momentum ${o.momentum}, dampening ${o.dampening})`);
    super(params, o);
    this.foreach = fe;
  }

  protected slotNames(): readonly string[] {
    return this.defaults.momentum !== 0 ? ['momentum_buffer'] : [];
  }

  protected update(items: readonly StepItem[], perTensor: boolean): void {
    const { momentum, dampening, weightDecay, nesterov } = this.defaults;
    sgdStep(
      items.map((it) => ({ param: it.param, grad: it.grad, buf: momentum !== 0 ? this.slot('momentum_buffer', it.index) : null, step: it.step })),
      { lr: this.lr, momentum, dampening, weightDecay, nesterov },
      { perTensor },
    );
  }
}

export interface AdamOptions {
  lr?: number;
  /** (β1, β2): decay rates of the first and second moment averages. */
  betas?: [number, number];
  /** Added to sqrt(v̂) in the denominator. */
  eps?: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay p ← p·(1 − lr·wd). */
  weightDecay?: number;
  /** Multi-tensor updates (default: setForeach's, true); false: one dispatch per parameter. Not part of `defaults`. */
  foreach?: boolean;
}

type AdamDefaults = Required<Omit<AdamOptions, 'foreach'>>;

/**
 * torch.optim.Adam: g ← g + wd·p; m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
 * p ← p − lr/(1 − β1ᵗ) · m / (sqrt(v)/sqrt(1 − β2ᵗ) + eps). State: exp_avg (m), exp_avg_sq (v).
 */
export class Adam extends Optimizer<AdamDefaults> {
  /** AdamW: weight decay decoupled from the gradient. */
  protected readonly decoupled: boolean = false;

  constructor(params: Iterable<Tensor> | Tensor[], opts: AdamOptions = {}) {
    const name = new.target.name;
    const { foreach, ...rest } = opts ?? {};
    const fe = checkForeach(name, foreach);
    const o = withDefaults<AdamDefaults>({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, rest);
    if (!Array.isArray(o.betas) || o.betas.length !== 2) throw new ValueError(`${name}: betas must be [beta1, beta2], got ${JSON.stringify(o.betas)}`);
    checkNumber(name, 'betas[0]', o.betas[0], 0, 1);
    checkNumber(name, 'betas[1]', o.betas[1], 0, 1);
    checkNumber(name, 'eps', o.eps);
    checkNumber(name, 'weightDecay', o.weightDecay);
    super(params, o);
    this.foreach = fe;
  }

  protected slotNames(): readonly string[] {
    return ['exp_avg', 'exp_avg_sq'];
  }

  /** The kernel's items per step() call's items: a compiled step's replays look them up instead of making them again. */
  private readonly adamItems = new WeakMap<readonly StepItem[], AdamItem[]>();

  protected update(items: readonly StepItem[], perTensor: boolean): void {
    const { betas, eps, weightDecay } = this.defaults;
    let list = this.adamItems.get(items);
    if (!list) {
      list = items.map((it) => ({ param: it.param, grad: it.grad, expAvg: this.slot('exp_avg', it.index), expAvgSq: this.slot('exp_avg_sq', it.index), step: it.step }));
      this.adamItems.set(items, list);
    }
    for (let k = 0; k < items.length; k++) list[k].step = items[k].step;
    adamStep(list, { lr: this.lr, beta1: betas[0], beta2: betas[1], eps, weightDecay, decoupled: this.decoupled }, { perTensor });
  }
}

/** torch.optim.AdamW: p ← p·(1 − lr·wd), then the Adam update without the L2 term. Default weightDecay 1e-2. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(params: Iterable<Tensor> | Tensor[], opts: AdamOptions = {}) {
    super(params, withDefaults({ weightDecay: 1e-2 }, opts));
  }
}
