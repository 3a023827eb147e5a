// kernels/matmul/dispatch.ts: batched matmul with transposed operands read in place and a fused bias; matches
// torch.matmul on [..., M, K] @ [..., K, N] (batch dims broadcast).
import type { Kernel } from '../../engine/device';
import { ShapeError, fmtShape } from '../../engine/errors';
import { Tensor } from '../../engine/tensor';
import { broadcastShapes } from '../elementwise/dispatch';
import { gather } from '../layout/dispatch';
import { stridesOf } from '../grid';
import { matmulWgsl, type MatmulConfig } from './matmul.wgsl';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** [N], added to every row of C. */
  bias?: Tensor;
  /** Override the tile config (tests and the bench run every variant). */
  config?: Partial<Pick<MatmulConfig, 'tm' | 'tn' | 'wgX' | 'wgY'>>;
}

/** Tile shapes the tests and the autotuner (issue: kernels) iterate over. */
export const MATMUL_TILES: Pick<MatmulConfig, 'tm' | 'tn' | 'wgX' | 'wgY'>[] = [
  { tm: 4, tn: 4, wgX: 8, wgY: 8 },
  { tm: 4, tn: 8, wgX: 8, wgY: 8 },
  { tm: 8, tn: 8, wgX: 8, wgY: 8 },
  { tm: 1, tn: 4, wgX: 16, wgY: 4 },
];

const kernels = new Map<string, Kernel>();
function kernelFor(c: MatmulConfig): Kernel {
  const key = JSON.stringify(c);
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = { code: matmulWgsl(c), label: `matmul ${key}` }));
  return k;
}

/**
 * Default tile until the autotuner lands: big register tiles win on CPU drivers (bench/RESULTS.md: 8×8 reached
 * 13–18 GFLOP/s on lavapipe and 3.6 on SwiftShader at 512³–1024³); thin tiles keep small outputs parallel.
 */
export function pickMatmulTile(M: number, N: number): Pick<MatmulConfig, 'tm' | 'tn' | 'wgX' | 'wgY'> {
  if (M * N <= 64 * 64 || M < 8) return MATMUL_TILES[3];
  if (M * N >= 256 * 256) return MATMUL_TILES[2];
  return MATMUL_TILES[1];
}

export function matmulKernel(a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  const transA = !!o.transA, transB = !!o.transB;
  if (a.ndim < 2 || b.ndim < 2) throw new ShapeError(`matmul: operands need ≥ 2 dims here, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const [M, Ka] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  if (Ka !== Kb) {
    throw new ShapeError(
      `matmul: inner dims differ: ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''} has K = ${Ka} vs ${Kb}; the last dim of the left operand must equal the second-to-last of the right`,
    );
  }
  const K = Ka;
  const batchShape = broadcastShapes('matmul (batch dims)', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = batchShape.reduce((p, d) => p * d, 1);
  // operands whose batch dims need real broadcasting (not just all-or-nothing) are expanded first
  const fit = (t: Tensor): [Tensor, number] => {
    const tb = t.shape.slice(0, -2).reduce((p, d) => p * d, 1);
    if (tb === batch) return [t, t.shape.at(-1)! * t.shape.at(-2)!];
    if (tb === 1) return [t, 0];
    const full = [...batchShape, ...t.shape.slice(-2)];
    const s = stridesOf(t.shape);
    const off = full.length - t.ndim;
    const strides = full.map((n, d) => (d < off || t.shape[d - off] === 1 ? 0 : s[d - off]));
    return [gather(t, full, strides), t.shape.at(-1)! * t.shape.at(-2)!];
  };
  const [A, aBatch] = fit(a);
  const [B, bBatch] = fit(b);
  if (o.bias && (o.bias.ndim !== 1 || o.bias.shape[0] !== N)) throw new ShapeError(`matmul: bias has shape ${fmtShape(o.bias.shape)}, expected [${N}]`);
  const out = Tensor.empty([...batchShape, M, N], a.device);
  if (out.size > 0) {
    const tile = { ...pickMatmulTile(M, N), ...o.config };
    const config: MatmulConfig = { ...tile, transA, transB };
    const dev = a.device;
    // without a bias, B stands in at binding 3 (never read: hasBias = 0; two read-only bindings may alias)
    const biasBuf = o.bias?.buffer ?? B.buffer;
    const gx = Math.ceil(N / (config.tn * config.wgX)), gy = Math.ceil(M / (config.tm * config.wgY));
    if (batch > dev.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`matmul: batch ${batch} exceeds ${dev.limits.maxComputeWorkgroupsPerDimension}; reshape to fewer batch entries`);
    dev.dispatch(kernelFor(config), {
      buffers: [A.buffer, B.buffer, biasBuf, out.buffer],
      uniforms: [M, N, K, o.bias ? 1 : 0, aBatch, bBatch, 0, 0],
      workgroups: [gx, gy, batch],
    });
  }
  if (A !== a) A.dispose();
  if (B !== b) B.dispose();
  return out;
}
