// kernels/norm/dispatch.ts: GroupNorm / LayerNorm forward and backward on the GPU; matches
// torch.nn.functional.group_norm and layer_norm. Forward: one fused kernel (statistics, normalise, affine, optional
// SiLU) that also saves mean and rstd per row. Backward: one fused kernel for grad x (per row, from the saved stats)
// that also leaves per-channel partial sums, and one small kernel that turns them into grad weight and grad bias.
import { device as currentDevice, f32bits, type Device, type Kernel, internal, DeviceArray } from '../../runtime';
import { filled, nearestPow2, pick, tune, tuningMode, type TuneOptions, type TuneResult, type Tunable } from '../tune';
import { grid1d } from '../grid';
import {
  NORM_VARIANTS, NORM_WG, normBackwardWgsl, normForwardWgsl, normWeightGradWgsl,
  type NormBackwardConfig, type NormConfig, type NormPack, type NormVariant,
} from './norm.wgsl';

export { NORM_VARIANTS, type NormVariant } from './norm.wgsl';

/** x viewed as [N, G·Cg, S]: rows are (n, g) pairs, each normalised over its Cg·S elements. */
export interface NormDims {
  N: number;
  G: number;
  Cg: number;
  S: number;
}

export interface NormOptions {
  silu?: boolean;
  variant?: NormVariant;
  /** γ and β hold one value per sample and channel ([N, C]: adaptive group norm) instead of one per channel. */
  perSample?: boolean;
}

const kernels = new Map<string, Kernel>();
function cached(key: string, make: () => string, label: string): Kernel {
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = { code: make(), label }));
  return k;
}

const pow2floor = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));

/**
 * Default variant. GPUs: one lane per row when rows are short and many, else a workgroup per row (256 lanes for long
 * rows). CPU drivers (lavapipe, SwiftShader), where barriers are dear: one lane per row whenever there are rows enough
 * for two workgroups of them, else 8 lanes per row (measured on lavapipe, bench/norm-quick.ts).
 */
export function pickNormVariant(d: NormDims, isCpu = false): NormVariant {
  const rows = d.N * d.G, m = d.Cg * d.S;
  if (isCpu) return rows >= 2 * NORM_WG.thread ? 'thread' : 'wg8';
  if (m <= 64 && rows >= 256) return 'thread';
  return m >= 16384 ? 'wg256' : 'wg64';
}

// ---- tuning --------------------------------------------------------------------------------------------------------

type Pass = 'forward' | 'backward';
/** Below this many elements the heuristic is used without tuning (the kernel is a dispatch or two of overhead). */
export const NORM_TUNE_MIN_ELEMENTS = 2 ** 18;

/** Shape class: pass, the γ/β/SiLU flags, rows (N·G) and row length (Cg·S) to the nearest power of two, and S's vec4 packing. */
export function normShapeKey(pass: Pass, d: NormDims, affine: boolean, silu: boolean): string {
  const pack = d.S % 4 === 0 ? 's4' : d.S === 1 && d.Cg % 4 === 0 ? 'c4' : 'n';
  return `${pass} r${nearestPow2(d.N * d.G)}m${nearestPow2(d.Cg * d.S)}${pack}${affine ? 'a' : ''}${silu ? 'silu' : ''}`;
}

/** The tuner's view of one norm pass: every variant, the heuristic, and a job that runs the pass on this shape. */
export function normTunable(dev: Device, pass: Pass, d: NormDims, affine: boolean, silu: boolean): Tunable<NormVariant> {
  return {
    family: 'norm',
    key: normShapeKey(pass, d, affine, silu),
    candidates: NORM_VARIANTS,
    id: (v) => v,
    heuristic: pickNormVariant(d, dev.isCpu),
    job: () => {
      const n = d.N * d.G * d.Cg * d.S, C = d.G * d.Cg;
      const x = filled(dev, [n], 0.5), dy = filled(dev, [n], 0.25);
      const w = affine ? filled(dev, [C], 1) : undefined, b = affine ? filled(dev, [C], 0) : undefined;
      // the backward pass times against saved statistics; the forward pass needs none
      let stats: DeviceArray | null = null;
      if (pass === 'backward') {
        const f = normForward(x, d, w, b, 1e-5, { silu, variant: pickNormVariant(d, dev.isCpu) });
        f.y.dispose();
        stats = f.stats;
      }
      return {
        run: (variant) => {
          if (pass === 'forward') {
            const f = normForward(x, d, w, b, 1e-5, { silu, variant });
            f.y.dispose();
            f.stats.dispose();
          } else {
            const g = normBackward(dy, x, stats!, d, w, b, { silu, variant });
            for (const t of [g.dx, g.dw, g.db]) t?.dispose();
          }
        },
        prepare: (variant) => {
          const p = plan(dev, d, 1e-5, { weight: affine, bias: affine, silu, variant, perChannel: pass === 'backward' && affine });
          return dev.compileAsync(pass === 'forward' ? forwardKernel(p.cfg) : backwardKernel({ ...p.cfg, dx: true, partials: affine }));
        },
        dispose: () => {
          for (const t of [x, dy, w, b, stats]) t?.dispose();
        },
      };
    },
  };
}

/**
 * Times every variant on one norm shape now and caches the winner (explicit warm-up). Returns the cached winner
 * without timing unless `force`.
 */
export async function tuneNorm(
  s: { pass: Pass; dims: NormDims; affine?: boolean; silu?: boolean },
  o: TuneOptions & { device?: Device } = {},
): Promise<TuneResult> {
  const dev = o.device ?? currentDevice();
  return tune(dev, normTunable(dev, s.pass, s.dims, s.affine ?? true, !!s.silu), o);
}

/** The variant to run: forced, else the tuner's winner for this shape class (when known), else the heuristic. */
function variantFor(dev: Device, pass: Pass, d: NormDims, affine: boolean, o: NormOptions): NormVariant {
  if (o.variant) return o.variant;
  if (tuningMode() === 'off' || d.N * d.G * d.Cg * d.S < NORM_TUNE_MIN_ELEMENTS) return pickNormVariant(d, dev.isCpu);
  return pick(dev, normTunable(dev, pass, d, affine, !!o.silu));
}

const forwardKernel = (cfg: NormConfig) => cached(`fwd ${JSON.stringify(cfg)}`, () => normForwardWgsl(cfg), `norm forward (${cfg.variant}, pack ${cfg.pack})`);
const backwardKernel = (cfg: NormBackwardConfig) => cached(`bwd ${JSON.stringify(cfg)}`, () => normBackwardWgsl(cfg), `norm backward (${cfg.variant}, pack ${cfg.pack})`);

interface Plan {
  cfg: NormConfig;
  uniforms: number[];
  rows: number;
  ST: number;
  workgroups: [number, number];
}

function plan(dev: Device, d: NormDims, eps: number, o: { weight: boolean; bias: boolean; silu: boolean; variant: NormVariant; perChannel: boolean; perSample?: boolean }): Plan {
  const variant = o.variant;
  if (!NORM_VARIANTS.includes(variant)) throw internal(`norm: unknown variant ${variant}`);
  let { Cg, S } = d;
  // without γ, β or per-channel partials the channel split does not matter: one long channel vectorises better
  if (!o.perChannel && !o.weight && !o.bias) [Cg, S] = [1, Cg * S];
  // channel quads read γ, β as vec4f per channel quad: kept for per-channel affines (layer norm rows)
  const pack: NormPack = S % 4 === 0 ? 'spatial' : S === 1 && Cg % 4 === 0 && !o.perSample ? 'channel' : 'none';
  const sv = pack === 'spatial' ? S / 4 : S, cgv = pack === 'channel' ? Cg / 4 : Cg;
  const wg = NORM_WG[variant];
  const ST = variant === 'thread' ? 1 : Math.min(wg, pow2floor(sv));
  const rows = d.N * d.G;
  const cfg: NormConfig = { variant, pack, weight: o.weight, bias: o.bias, silu: o.silu, perSample: !!o.perSample && (o.weight || o.bias) };
  const uniforms = [rows, d.G, cgv, sv, ST, d.G * d.Cg, f32bits(eps), f32bits(1 / (Cg * S))];
  const workgroups = variant === 'thread' ? grid1d(dev, rows, wg) : grid1d(dev, rows, 1);
  return { cfg, uniforms, rows, ST, workgroups };
}

/** y = act((x − mean)·rstd·γ + β) per row (γ, β [C], or [N, C] with `perSample`), and stats [N, G, 2] = (mean, rstd) per row. One dispatch. */
export function normForward(x: DeviceArray, d: NormDims, weight: DeviceArray | undefined, bias: DeviceArray | undefined, eps: number, o: NormOptions = {}): { y: DeviceArray; stats: DeviceArray } {
  const dev = x.device;
  if (d.N * d.G * d.Cg * d.S !== x.size) throw internal(`norm: dims ${JSON.stringify(d)} do not cover ${x.size} elements`);
  const y = DeviceArray.alloc(x.shape, dev);
  const stats = DeviceArray.alloc([d.N, d.G, 2], dev);
  if (x.size === 0) return { y, stats };
  const variant = variantFor(dev, 'forward', d, !!weight || !!bias, o);
  const p = plan(dev, d, eps, { weight: !!weight, bias: !!bias, silu: !!o.silu, variant, perChannel: false, perSample: o.perSample });
  const kernel = forwardKernel(p.cfg);
  const buffers = [x.buffer];
  if (weight) buffers.push(weight.buffer);
  if (bias) buffers.push(bias.buffer);
  buffers.push(y.buffer, stats.buffer);
  dev.dispatch(kernel, { buffers, uniforms: p.uniforms, workgroups: p.workgroups });
  return { y, stats };
}

export interface NormBackwardOptions extends NormOptions {
  /** Which gradients to produce (default: x always, weight/bias when given). */
  needX?: boolean;
  needWeight?: boolean;
  needBias?: boolean;
  /** Lanes per channel in the grad-weight/bias sum (default: 1 on CPU drivers, 64 on GPUs). */
  weightGradLanes?: 1 | 64;
}

/**
 * Gradients of normForward given the incoming gradient dy and the saved stats: dx (shape of x), dw and db ([G·Cg], or
 * [N·G·Cg] with `perSample`).
 * One dispatch for dx; one more when grad weight or bias is asked for.
 */
export function normBackward(
  dy: DeviceArray, x: DeviceArray, stats: DeviceArray, d: NormDims, weight: DeviceArray | undefined, bias: DeviceArray | undefined, o: NormBackwardOptions = {},
): { dx: DeviceArray | null; dw: DeviceArray | null; db: DeviceArray | null } {
  const dev = x.device;
  const needX = o.needX ?? true, needW = !!weight && (o.needWeight ?? true), needB = !!bias && (o.needBias ?? true);
  const C = d.G * d.Cg;
  // per-sample γ, β: their gradients sum over a sample's lanes only, i.e. the per-channel sum over N·C "channels" of one sample
  const [wC, wN] = o.perSample ? [d.N * C, 1] : [C, d.N];
  const dx = needX ? DeviceArray.alloc(x.shape, dev) : null;
  const partials = needW || needB;
  if (x.size === 0 || (!needX && !partials)) {
    return { dx, dw: needW ? zerosOf([wC], dev) : null, db: needB ? zerosOf([wC], dev) : null };
  }
  const variant = variantFor(dev, 'backward', d, !!weight || !!bias, o);
  const p = plan(dev, d, 0, { weight: !!weight, bias: !!bias, silu: !!o.silu, variant, perChannel: partials, perSample: o.perSample });
  const cfg: NormBackwardConfig = { ...p.cfg, dx: needX, partials };
  const kernel = backwardKernel(cfg);
  const P = partials ? DeviceArray.alloc([d.N, C, p.ST, 2], dev) : null;
  const buffers = [x.buffer, dy.buffer, stats.buffer];
  if (weight) buffers.push(weight.buffer);
  if (bias) buffers.push(bias.buffer);
  if (dx) buffers.push(dx.buffer);
  if (P) buffers.push(P.buffer);
  dev.dispatch(kernel, { buffers, uniforms: p.uniforms, workgroups: p.workgroups });
  if (!P) return { dx, dw: null, db: null };
  const dw = DeviceArray.alloc([wC], dev), db = DeviceArray.alloc([wC], dev);
  const lanes = o.weightGradLanes ?? (dev.isCpu ? 1 : 64);
  const wk = cached(`wgrad ${lanes}`, () => normWeightGradWgsl(lanes), `norm grad weight/bias (${lanes} lanes per channel)`);
  dev.dispatch(wk, { buffers: [P.buffer, dw.buffer, db.buffer], uniforms: [wC, wN, p.ST, 0], workgroups: lanes === 1 ? grid1d(dev, wC, 64) : grid1d(dev, wC, 1) });
  P.dispose();
  if (!needW) dw.dispose();
  if (!needB) db.dispose();
  return { dx, dw: needW ? dw : null, db: needB ? db : null };
}

const zerosKernel: Kernel = {
  label: 'norm zeros',
  code: /* wgsl */ `
struct U { n: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i < u.n) { o[i] = 0.0; }
}`,
};
function zerosOf(shape: number[], dev: DeviceArray['device']): DeviceArray {
  const t = DeviceArray.alloc(shape, dev);
  if (t.size) dev.dispatch(zerosKernel, { buffers: [t.buffer], uniforms: [t.size, 0, 0, 0], workgroups: grid1d(dev, t.size, 64) });
  return t;
}
