// bench/specs.ts: what each suite measures: kernel, shape and pass of every row, and the FLOPs/bytes that turn a
// median into GFLOP/s or GB/s. Rows that measure the same work carry the same kernel, shape and pass in every engine.
import type { Pass, SuiteName } from './harness';

export type Spec =
  | { op: 'matmul'; batch: number; m: number; k: number; n: number; transB: boolean; pass: Pass }
  | { op: 'conv2d'; n: number; cin: number; cout: number; h: number; w: number; k: number; pass: Pass }
  | { op: 'groupNorm'; n: number; c: number; h: number; w: number; groups: number; pass: Pass }
  | { op: 'attention'; bh: number; l: number; d: number; pass: Pass }
  | { op: 'addChain'; size: number; chain: number; pass: 'fwd' }
  | { op: 'sum'; rows: number; cols: number; pass: 'fwd' } // sum over the last axis
  | { op: 'adam'; size: number; pass: 'fwd' } // one Adam update of `size` parameters
  | { op: 'copy'; bytes: number; pass: 'fwd' } // ceiling: device-memory copy bandwidth
  | { op: 'dispatch'; count: number; pass: 'fwd' } // ceiling: per-dispatch cost of an empty kernel
  | { op: 'rawMatmul'; m: number; k: number; n: number; pass: 'fwd' } // ceiling: best hand-written WGSL matmul
  | { op: 'dmdStep'; batch: number; pass: 'fwd+bwd' } // onestep only: one DMD2 training iteration (bench/dmd-step.ts)
  | { op: 'unetStep'; batch: number; pass: 'fwd+bwd' }; // onestep only: one EDM training step of the MNIST teacher's UNet (bench/unet-step.ts)

export interface Case {
  suite: string; // family shown in tables
  kernel: string;
  shape: string;
  pass: Pass;
  spec: Spec;
  flops: number | null;
  bytes: number | null; // bytes moved, for GB/s (only for memory-bound rows)
}

const F = 4; // bytes per f32

/** Backward of a matmul/conv costs two more of the same products: fwd+bwd = 3× the forward FLOPs. */
const passFactor = (p: Pass) => (p === 'fwd' ? 1 : p === 'bwd' ? 2 : 3);

export function caseOf(spec: Spec): Case {
  switch (spec.op) {
    case 'matmul': {
      const kernel = spec.transB ? 'matmul A·Bᵀ' : spec.batch > 1 ? 'matmul batched' : 'matmul';
      const shape = `${spec.batch > 1 ? `${spec.batch}×` : ''}${spec.m}×${spec.k}×${spec.n}`;
      return { suite: 'matmul', kernel, shape, pass: spec.pass, spec, flops: 2 * spec.batch * spec.m * spec.k * spec.n * passFactor(spec.pass), bytes: null };
    }
    case 'conv2d': {
      const fl = 2 * spec.n * spec.cout * spec.h * spec.w * spec.cin * spec.k * spec.k;
      return { suite: 'conv2d', kernel: 'conv2d', shape: `N${spec.n} ${spec.cin}→${spec.cout} ${spec.h}×${spec.w} ${spec.k}×${spec.k} pad ${spec.k >> 1}`, pass: spec.pass, spec, flops: fl * passFactor(spec.pass), bytes: null };
    }
    case 'groupNorm': {
      const n = spec.n * spec.c * spec.h * spec.w;
      // fwd reads x once and writes y; fwd+bwd also reads x and dy and writes dx (the minimum traffic)
      const bytes = spec.pass === 'fwd' ? 2 * n * F : 5 * n * F;
      return { suite: 'groupNorm', kernel: 'group norm', shape: `G${spec.groups} ${spec.n}×${spec.c}×${spec.h}×${spec.w}`, pass: spec.pass, spec, flops: null, bytes };
    }
    case 'attention': {
      // q·kᵀ and p·v: 4·BH·L²·D; backward ≈ 2.5× that (dq, dk, dv, dp; recomputing scores)
      const fl = 4 * spec.bh * spec.l * spec.l * spec.d;
      return { suite: 'attention', kernel: 'attention', shape: `B·H ${spec.bh} L ${spec.l} D ${spec.d}`, pass: spec.pass, spec, flops: spec.pass === 'fwd' ? fl : 3.5 * fl, bytes: null };
    }
    case 'addChain':
      return { suite: 'elementwise', kernel: `${spec.chain} chained adds`, shape: `${spec.size}`, pass: 'fwd', spec, flops: null, bytes: 3 * spec.size * F * spec.chain };
    case 'sum':
      return { suite: 'reduce', kernel: 'sum last axis', shape: `${spec.rows}×${spec.cols}`, pass: 'fwd', spec, flops: null, bytes: spec.rows * spec.cols * F };
    case 'adam':
      // reads p, g, m, v; writes p, m, v
      return { suite: 'optim', kernel: 'Adam step', shape: `${spec.size}`, pass: 'fwd', spec, flops: null, bytes: 7 * spec.size * F };
    case 'copy':
      return { suite: 'ceiling', kernel: 'copy bandwidth', shape: `${spec.bytes / 2 ** 20} MiB`, pass: 'fwd', spec, flops: null, bytes: 2 * spec.bytes };
    case 'dispatch':
      return { suite: 'ceiling', kernel: 'dispatch overhead (empty kernel)', shape: `${spec.count} per submit`, pass: 'fwd', spec, flops: null, bytes: null };
    case 'rawMatmul':
      // the same row key as the matmul suite, so raw-wgsl sits beside the engines
      return { ...caseOf({ op: 'matmul', batch: 1, m: spec.m, k: spec.k, n: spec.n, transB: false, pass: 'fwd' }), spec };
    case 'dmdStep':
      // the median is per iteration (a timed call runs one TTUR cycle: 5 iterations, one of them a generator update)
      return { suite: 'models', kernel: 'DMD2 iteration (ms/it)', shape: `2-D MLP 3×128, batch ${spec.batch}, TTUR 5`, pass: spec.pass, spec, flops: null, bytes: null };
    case 'unetStep':
      // forward, backward and Adam of the zoo's MNIST teacher architecture (0.21 M parameters), class-conditional
      return { suite: 'models', kernel: 'UNet training step (ms/step)', shape: `MNIST teacher, 16×16, mc 16, batch ${spec.batch}`, pass: spec.pass, spec, flops: null, bytes: null };
  }
}

const mm = (n: number, pass: Pass = 'fwd', o: { batch?: number; transB?: boolean } = {}): Spec => ({ op: 'matmul', batch: o.batch ?? 1, m: n, k: n, n, transB: !!o.transB, pass });
const conv = (n: number, c: number, hw: number, pass: Pass): Spec => ({ op: 'conv2d', n, cin: c, cout: c, h: hw, w: hw, k: 3, pass });
const gn = (pass: Pass): Spec => ({ op: 'groupNorm', n: 8, c: 64, h: 32, w: 32, groups: 32, pass });
const att = (l: number, d: number, pass: Pass): Spec => ({ op: 'attention', bh: 8, l, d, pass });

/**
 * The rows of a suite, most important first (a quick run that hits its deadline drops the tail). Quick: the kernels
 * at the UNet shapes of the issue; full: the size sweeps as well.
 */
export function suiteSpecs(suite: SuiteName): Spec[] {
  if (suite === 'quick') {
    return [
      mm(256), { op: 'rawMatmul', m: 256, k: 256, n: 256, pass: 'fwd' }, gn('fwd'), conv(8, 64, 32, 'fwd'), att(256, 64, 'fwd'),
      { op: 'addChain', size: 4096, chain: 100, pass: 'fwd' }, { op: 'dispatch', count: 1000, pass: 'fwd' }, { op: 'copy', bytes: 16 << 20, pass: 'fwd' },
      mm(256, 'fwd+bwd'), gn('fwd+bwd'), conv(8, 64, 32, 'fwd+bwd'), att(256, 64, 'fwd+bwd'),
      mm(1024), { op: 'rawMatmul', m: 1024, k: 1024, n: 1024, pass: 'fwd' },
      mm(256, 'fwd', { batch: 8 }), mm(256, 'fwd', { transB: true }),
      { op: 'sum', rows: 1024, cols: 1024, pass: 'fwd' }, { op: 'adam', size: 1 << 20, pass: 'fwd' },
      { op: 'dmdStep', batch: 256, pass: 'fwd+bwd' },
    ];
  }
  const out: Spec[] = [];
  for (const n of [256, 512, 1024, 2048]) out.push(mm(n), { op: 'rawMatmul', m: n, k: n, n, pass: 'fwd' });
  out.push(mm(256, 'fwd', { batch: 8 }), mm(1024, 'fwd', { transB: true }), mm(256, 'fwd+bwd'), mm(1024, 'fwd+bwd'));
  out.push(conv(8, 64, 32, 'fwd'), conv(8, 64, 32, 'fwd+bwd'), conv(8, 128, 16, 'fwd'), conv(8, 128, 16, 'fwd+bwd'), conv(8, 32, 64, 'fwd'), conv(8, 32, 64, 'fwd+bwd'));
  out.push(gn('fwd'), gn('fwd+bwd'));
  for (const d of [32, 64]) for (const l of [64, 256, 1024]) out.push(att(l, d, 'fwd'), att(l, d, 'fwd+bwd'));
  out.push({ op: 'addChain', size: 4096, chain: 100, pass: 'fwd' }, { op: 'addChain', size: 1 << 20, chain: 100, pass: 'fwd' });
  out.push({ op: 'sum', rows: 1024, cols: 1024, pass: 'fwd' }, { op: 'sum', rows: 4096, cols: 4096, pass: 'fwd' });
  out.push({ op: 'adam', size: 1 << 20, pass: 'fwd' }, { op: 'adam', size: 1 << 23, pass: 'fwd' });
  out.push({ op: 'copy', bytes: 16 << 20, pass: 'fwd' }, { op: 'copy', bytes: 128 << 20, pass: 'fwd' }, { op: 'dispatch', count: 1000, pass: 'fwd' });
  out.push({ op: 'dmdStep', batch: 256, pass: 'fwd+bwd' }, { op: 'unetStep', batch: 16, pass: 'fwd+bwd' }, { op: 'unetStep', batch: 64, pass: 'fwd+bwd' });
  return out;
}
