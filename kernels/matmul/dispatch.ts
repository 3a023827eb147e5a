// kernels/matmul/dispatch.ts: batched matmul with transposed operands read in place and a fused bias; matches
// torch.matmul on [..., M, K] @ [..., K, N] (batch dims broadcast). Picks a variant (kernels/tune.ts: the tuned winner
// for the shape class, else a heuristic), derives how each operand is read (vec4 where the shape allows, else scalar
// through runtime strides) and dispatches.
import { device, hasShaderF16, isSwiftShader, type Device, type Kernel, ShapeError, fmtShape, DeviceArray } from '../../runtime';
import { broadcastShapes } from '../elementwise/dispatch';
import { gather } from '../layout/dispatch';
import { stridesOf } from '../grid';
import { filled, pick, tune, tuningMode, TUNE_MIN_FLOPS, type TuneJob, type TuneOptions, type TuneResult, type Tunable } from '../tune';
import { FLAG_NO_SUBGROUP_PATH, matmulWgsl, type MatmulConfig, type MatmulEpilogue, type MatmulLayout, type OperandMode, type OperandType, type RegisterConfig } from './matmul.wgsl';

export type { MatmulConfig, MatmulEpilogue, MatmulLayout, OperandMode, RegisterConfig, SubgroupConfig, TiledConfig } from './matmul.wgsl';
export { epilogueInputs, epilogueWords } from './matmul.wgsl';

/** A named config: tests, the bench and the tuner's cache refer to variants by name. */
export interface MatmulVariant {
  name: string;
  config: MatmulConfig;
}

/**
 * Every variant the tests run and the tuner may pick. Comments: GFLOP/s at 1024³ (median wall clock on a busy 2-core
 * host, bench/matmul-quick.ts) on lavapipe / SwiftShader. lavapipe likes subgroup shuffles (a storage load there is a
 * ~10-instruction loop over the 8 lanes, a shuffle one vpermd); SwiftShader likes constant-lane broadcasts (one
 * swizzle; its shuffle is ~12 ops); real GPUs get workgroup tiles (CPU drivers emulate workgroup memory slowly).
 */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  { name: 'r1x4', config: { kind: 'register', tm: 1, tn: 4, wgX: 16, wgY: 4, vec4: false, kUnroll: 1 } }, // thin outputs (M < 8): 1.6 / 0.4
  { name: 'r4x4', config: { kind: 'register', tm: 4, tn: 4, wgX: 8, wgY: 8, vec4: false, kUnroll: 1 } }, // 5.0 / 0.7
  { name: 'r4x8', config: { kind: 'register', tm: 4, tn: 8, wgX: 8, wgY: 8, vec4: false, kUnroll: 1 } }, // mid-size outputs: 7.0 / 1.3
  { name: 'r8x8', config: { kind: 'register', tm: 8, tn: 8, wgX: 8, wgY: 8, vec4: false, kUnroll: 1 } }, // the old default: 9.2 / 1.3
  { name: 'r8x8v4', config: { kind: 'register', tm: 8, tn: 8, wgX: 8, wgY: 8, vec4: true, kUnroll: 4 } }, // vec4 A and B: 6.1 / 2.2
  { name: 'r8x16v', config: { kind: 'register', tm: 8, tn: 16, wgX: 8, wgY: 1, vec4: true, kUnroll: 1 } }, // vec4 B: 17.3 / 1.8
  { name: 's16x8b4', config: { kind: 'subgroup', share: 'broadcast', tm: 16, tn: 8, wgX: 8, sg: 4, vec4: true } }, // 9.1 / 3.0
  { name: 's16x8s8', config: { kind: 'subgroup', share: 'shuffle', tm: 16, tn: 8, wgX: 8, sg: 8, vec4: true } }, // 17.0 / 1.8
  { name: 's32x8s8', config: { kind: 'subgroup', share: 'shuffle', tm: 32, tn: 8, wgX: 8, sg: 8, vec4: true } }, // 19.9 / 1.9 (compiles ~30 s on lavapipe)
  { name: 't4x4w16', config: { kind: 'tiled', tm: 4, tn: 4, wgX: 16, wgY: 16, kt: 16 } }, // GPUs: 2.3 / 0.5 here
  { name: 't8x8w8', config: { kind: 'tiled', tm: 8, tn: 8, wgX: 8, wgY: 8, kt: 16 } }, // GPUs: 3.5 / 0.8 here
];

/** @deprecated the configs of MATMUL_VARIANTS (the name predates the non-register kinds). */
export const MATMUL_TILES: readonly MatmulConfig[] = MATMUL_VARIANTS.map((v) => v.config);

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** [N], added to every row of C. */
  bias?: DeviceArray;
  /** Force a variant (tests and the bench run every one): a name from MATMUL_VARIANTS, a full config, or register
   * tile fields ({tm, tn, wgX, wgY}) over the r8x8 defaults. Unset: the tuner's winner or the heuristic. */
  config?: string | MatmulConfig | Partial<Omit<RegisterConfig, 'kind'>>;
  /** Subgroup kernels take their plain-load path (what runs where subgroups are smaller than the kernel's SG). */
  noSubgroupPath?: boolean;
  /** f16 operands are read as packed pairs even where the adapter has shader-f16 (the fallback, for tests). */
  packedF16?: boolean;
}

/** The shape facts variant choice depends on. */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
}

const variantByName = new Map(MATMUL_VARIANTS.map((v) => [v.name, v]));
const R8X8 = variantByName.get('r8x8')!.config as RegisterConfig;

/** A stable name for any config (a variant's name, else its JSON): the tuner's cache stores these. */
export function matmulConfigId(c: MatmulConfig): string {
  const json = JSON.stringify(c);
  return MATMUL_VARIANTS.find((v) => JSON.stringify(v.config) === json)?.name ?? json;
}

/**
 * The config that will run: a name or partial tile resolved, and subgroup kernels replaced by the register kernel of
 * the same vec4 choice where the device lacks the `subgroups` feature (the tested fallback).
 */
export function resolveMatmulConfig(spec: MatmulOptions['config'], features: ReadonlySet<string>): MatmulConfig {
  let c: MatmulConfig;
  if (typeof spec === 'string') {
    const v = variantByName.get(spec);
    if (!v) throw new ShapeError(`matmul: unknown variant "${spec}"; use one of ${MATMUL_VARIANTS.map((x) => x.name).join(', ')}`);
    c = v.config;
  } else if (spec && 'kind' in spec) c = spec as MatmulConfig;
  else c = { ...R8X8, ...spec, kind: 'register' };
  if (c.kind === 'subgroup' && !features.has('subgroups')) return { ...R8X8, vec4: c.vec4 };
  return c;
}

const F32_OPERANDS = { aType: 'f32', bType: 'f32' } as const;

/** How an f16 tensor is read here: natively with shader-f16 (unless `packed` forces the pairs-in-words path), else packed. */
export const operandType = (t: DeviceArray, dev: Device, packed = false): OperandType => (t.dtype === 'f32' ? 'f32' : hasShaderF16(dev) && !packed ? 'f16' : 'f16packed');

/** How each operand is read for this config and shape: vec4 where the contiguous dim allows, else strided scalars; and stored (f32 unless given). */
export function matmulLayout(c: MatmulConfig, s: Pick<MatmulShape, 'M' | 'N' | 'K' | 'transA' | 'transB'>, types: { aType: OperandType; bType: OperandType } = F32_OPERANDS): MatmulLayout {
  let aMode: OperandMode = 'strided', bMode: OperandMode = 'strided';
  if (c.kind === 'register' && c.vec4) {
    if (!s.transA && c.kUnroll === 4 && s.K % 4 === 0) aMode = 'vecK';
    else if (s.transA && c.tm % 4 === 0 && s.M % 4 === 0) aMode = 'vecMN';
    if (!s.transB && c.tn % 4 === 0 && s.N % 4 === 0) bMode = 'vecMN';
    else if (s.transB && c.kUnroll === 4 && s.K % 4 === 0) bMode = 'vecK';
  } else if (c.kind === 'subgroup' && c.vec4) {
    if (!s.transB && s.N % 4 === 0) bMode = 'vecMN';
    // B stored [N, K] (a linear layer's weight) in vec4s along K, one load per 4 steps of k: on lavapipe (shuffle
    // kernels) linear 1024×1024 → 1024 took 83.8 ms instead of 121.9 (the 2-D MLP's 256–768 × 128 → 128: within
    // ±7%); SwiftShader's broadcast kernels ran 0.94–1.00× with it, so they keep the strided reads
    else if (s.transB && s.K % 4 === 0 && c.share === 'shuffle' && c.sg % 4 === 0) bMode = 'vecK';
  }
  // the transpose flags shape the code only of tiled kernels (tile fill order); elsewhere strides carry them
  const tiled = c.kind === 'tiled';
  return { aMode, bMode, transA: tiled && s.transA, transB: tiled && s.transB, ...types };
}

const kernels = new Map<string, Kernel>();
/** What each matmul kernel was generated from: a compiled step regenerates it with an epilogue. */
const generatedFrom = new WeakMap<Kernel, [MatmulConfig, MatmulLayout]>();

export function matmulKernelFor(c: MatmulConfig, L: MatmulLayout, e?: MatmulEpilogue): Kernel {
  const key = JSON.stringify([c, L, e ?? null]);
  let k = kernels.get(key);
  if (!k) {
    const label = `matmul ${matmulConfigId(c)} ${L.aMode}/${L.bMode}${L.transA ? ' Aᵀ' : ''}${L.transB ? ' Bᵀ' : ''}${e ? ` → ${e.spec.label}` : ''}`;
    kernels.set(key, (k = { code: matmulWgsl(c, L, e), label }));
    generatedFrom.set(k, [c, L]);
  }
  return k;
}

/**
 * The matmul kernel `k` with elementwise work fused into its store (engine/compile/epilogue.ts); null when `k` is not
 * a matmul kernel, or not worth a pipeline of its own on `dev` (null `dev`: always worth it). Its bindings: A, B, bias, C as in `k`, then the
 * epilogue's other inputs, then its output (keepC).
 *
 * Each epilogue is a new pipeline. GPUs compile one in milliseconds. CPU drivers on a cold shader cache (a fresh
 * machine) took 0.08 s for an r1x4 kernel, 0.6 s for r4x8 and 4–8 s for s16x8s8 on lavapipe, against ~40 µs saved
 * per replay: the 2-D recipe's compiled steps went from 18 s to 126 s of cold start with every epilogue fused, to
 * save 3 ms of a 33 ms iteration. So there only the smallest register tiles (TM·TN ≤ 4) take epilogues.
 */
export function matmulEpilogueKernel(k: Kernel, e: MatmulEpilogue, dev: Device | null): Kernel | null {
  const from = generatedFrom.get(k);
  if (!from) return null;
  const c = from[0];
  if (dev?.isCpu && !(c.kind === 'register' && c.tm * c.tn <= 4)) return null;
  return matmulKernelFor(c, from[1], e);
}

/** Workgroups for one dispatch: [along N, along M, batch]. */
export function matmulWorkgroups(c: MatmulConfig, M: number, N: number, batch: number): [number, number, number] {
  const rowsPerGroup = c.kind === 'subgroup' ? c.tm : c.tm * c.wgY;
  return [Math.ceil(N / (c.tn * c.wgX)), Math.ceil(M / rowsPerGroup), batch];
}

// ---- choosing a variant --------------------------------------------------------------------------------------------


/** At most this much work (M·N·K) is "tiny": grad checks and unit tests, where compile time matters more. */
const TINY_MNK = 32 ** 3;
/**
 * Below this much work the subgroup kernels are not worth their compile on a fresh machine: without Mesa's shader
 * cache one s16x8s8 layout took 10–20 s to compile on lavapipe (load 6–10), r4x8 about 1 s; the test suite runs
 * dozens of small odd shapes, each a fresh layout.
 */
const SUBGROUP_MIN_MNK = 64 ** 3;
/**
 * …unless a batch makes it real work: a UNet step's 1×1 convolutions are products like 128×64×32 in batches of 64,
 * where s16x8s8 / s32x8s8 ran 1.5–2.5× faster than r4x8 on lavapipe (bench/unet-step.ts --tune, GPU timestamps).
 */
const SUBGROUP_MIN_BATCHED_MNK = 2 ** 22;

/**
 * Used until the tuner knows better (and always with tuning off): thin tiles keep tiny products parallel and cheap to
 * compile (grad checks run many tiny shapes); larger ones get the kind measured fastest on this adapter class. On CPU
 * drivers with subgroups the subgroup kernels win from M = 16 up, small shapes included: measured (CPU µs per call,
 * bench/dmd-step.ts shapes) on lavapipe, s16x8s8 vs the old r4x8 pick: 256×128×128 650 vs 1500 (all three transpose
 * cases), 100³ 252 vs 431, 256×64×64ᵀ 344 vs 615; vs r1x4: 64³ 147 vs 500, 128×15×256 (Aᵀ) 295 vs 683, 256×2×128ᵀ 284
 * vs 453. On SwiftShader s16x8b4 vs r4x8: 3,305 vs 7,423 at 256×128×128ᵀ, vs r1x4 1,613 vs 4,420 at 256×2×128ᵀ.
 */
export function heuristicMatmulConfig(dev: Device, s: MatmulShape): MatmulConfig {
  const name = (n: string) => variantByName.get(n)!.config;
  const { M, N, K } = s;
  if (dev.isCpu && dev.features.has('subgroups')) {
    if (M < 8 || M * N * K <= TINY_MNK) return name('r1x4');
    const small = M * N * K <= SUBGROUP_MIN_MNK && M * N * K * s.batch < SUBGROUP_MIN_BATCHED_MNK;
    return name(M < 16 || small ? 'r4x8' : isSwiftShader(dev) ? 's16x8b4' : 's16x8s8');
  }
  if (!dev.isCpu) {
    // Outputs count with the batch: at a UNet step's batched products (64×64×32 in batches of 64, K from 16) on an H100
    // t4x4w16 was the fastest or within 20% in 34 of 36 classes, 1.6–3.1× faster than r4x8 where the per-product
    // sizes had picked it (r1x4 elsewhere; bench/unet-step.ts --tune, GPU timestamps). An H200: t4x4w16 16.4 TFLOP/s
    // at 1024³; r8x8v4 17.2 vs 13.9 at 2048³ and 22–24 vs 17–18 at 4096³ (bench/matmul-quick.ts).
    const outputs = M * N * s.batch;
    if (M < 8 || outputs <= 64 * 64) return name('r1x4');
    if (M < 16 || outputs < 256 * 256) return name('r4x8');
    return name(M * N >= 2048 * 2048 ? 'r8x8v4' : 't4x4w16');
  }
  if (M * N <= 64 * 64 || M < 8) return name('r1x4');
  if (M * N < 256 * 256 || K < 32) return name('r4x8');
  return name(isSwiftShader(dev) ? 'r8x8v4' : 'r8x16v');
}

/** @deprecated the heuristic's config for an M×N output on the current device (bench/conv-quick.ts uses it). */
export function pickMatmulTile(M: number, N: number, K = 256): MatmulConfig {
  return heuristicMatmulConfig(device(), { M, N, K, batch: 1, transA: false, transB: false });
}

/** Variants worth timing for this shape on this device. */
export function matmulCandidates(dev: Device, s: MatmulShape): MatmulConfig[] {
  return MATMUL_VARIANTS.filter((v) => {
    const c = v.config;
    if (c.kind === 'subgroup' && !dev.features.has('subgroups')) return false;
    if (c.kind === 'tiled' && dev.isCpu) return false; // CPU drivers emulate workgroup memory: 2–40× slower here
    if (v.name === 'r1x4') return s.M < 8;
    return true;
  }).map((v) => v.config);
}

const pow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/**
 * Shape class: M, N, K and the batch rounded up to powers of two, the transposes, and whether all of M, N, K are
 * multiples of 4. The batch counts: it multiplies the workgroups, and on lavapipe 256×64×256 takes r8x8 alone
 * (0.64 ms vs s32x8s8 1.27) but s32x8s8 in a batch of 8 (3.07 vs r8x8 6.24), so a winner from one batch misleads
 * another (the composed attention ran 1.7× slower on batch-1 winners).
 */
export function matmulShapeKey(s: MatmulShape): string {
  const aligned = s.M % 4 === 0 && s.N % 4 === 0 && s.K % 4 === 0;
  return `m${pow2(s.M)}n${pow2(s.N)}k${pow2(s.K)}b${pow2(s.batch)}${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}${aligned ? 'a4' : ''}`;
}

/** Below this much work (FLOPs) dispatch overhead dominates and the heuristic is used without tuning. */
export const MATMUL_TUNE_MIN_FLOPS = TUNE_MIN_FLOPS;

/** The tuner's view of a matmul shape: candidates, heuristic, and a job that times them on inputs of this shape. */
export function matmulTunable(dev: Device, s: MatmulShape): Tunable<MatmulConfig> {
  // time one matrix of the batch when the whole batch would take long
  const batch = 2 * s.M * s.N * s.K * s.batch > 2 ** 31 ? 1 : s.batch;
  return {
    family: 'matmul',
    key: matmulShapeKey(s),
    candidates: matmulCandidates(dev, s),
    id: matmulConfigId,
    heuristic: heuristicMatmulConfig(dev, s),
    flops: 2 * s.M * s.N * s.K * batch,
    job: (): TuneJob<MatmulConfig> => {
      const aShape = [batch, ...(s.transA ? [s.K, s.M] : [s.M, s.K])], bShape = [batch, ...(s.transB ? [s.N, s.K] : [s.K, s.N])];
      const A = filled(dev, aShape, 0.5), B = filled(dev, bShape, 0.25);
      return {
        run: (c) => matmulKernel(A, B, { transA: s.transA, transB: s.transB, config: c }).dispose(),
        prepare: (c) => dev.compileAsync(matmulKernelFor(c, matmulLayout(c, s))),
        dispose: () => (A.dispose(), B.dispose()),
      };
    },
  };
}

/** The variant matmulKernel uses for this shape when none is forced. */
export function pickMatmulConfig(dev: Device, s: MatmulShape): MatmulConfig {
  if (2 * s.M * s.N * s.K * s.batch < MATMUL_TUNE_MIN_FLOPS || tuningMode() === 'off') return heuristicMatmulConfig(dev, s);
  return pick(dev, matmulTunable(dev, s));
}

/**
 * Times every candidate for this shape class now and caches the winner (explicit warm-up; ops never wait for it).
 * Returns the cached winner without timing unless `force`.
 */
export async function tuneMatmul(
  s: Pick<MatmulShape, 'M' | 'N' | 'K'> & Partial<MatmulShape>,
  o: TuneOptions & { device?: Device } = {},
): Promise<TuneResult> {
  const dev = o.device ?? device();
  return tune(dev, matmulTunable(dev, { batch: 1, transA: false, transB: false, ...s }), o);
}

// ---- dispatch ------------------------------------------------------------------------------------------------------

export function matmulKernel(a: DeviceArray, b: DeviceArray, o: MatmulOptions = {}): DeviceArray {
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
  const fit = (t: DeviceArray): [DeviceArray, number] => {
    const tb = t.shape.slice(0, -2).reduce((p, d) => p * d, 1);
    if (tb === batch) return [t, t.shape.at(-1)! * t.shape.at(-2)!];
    if (tb === 1) return [t, 0];
    if (t.dtype !== 'f32') throw new ShapeError(`matmul: the f16 operand ${fmtShape(t.shape)} needs its batch dims broadcast to ${fmtShape(batchShape)}; f16 operands are read in place, so expand it in f32 first (x.float())`);
    const full = [...batchShape, ...t.shape.slice(-2)];
    const s = stridesOf(t.shape);
    const off = full.length - t.ndim;
    const strides = full.map((n, d) => (d < off || t.shape[d - off] === 1 ? 0 : s[d - off]));
    return [gather(t, full, strides), t.shape.at(-1)! * t.shape.at(-2)!];
  };
  const [A, aBatch] = fit(a);
  const [B, bBatch] = fit(b);
  if (o.bias && (o.bias.ndim !== 1 || o.bias.shape[0] !== N)) throw new ShapeError(`matmul: bias has shape ${fmtShape(o.bias.shape)}, expected [${N}]`);
  const out = DeviceArray.alloc([...batchShape, M, N], a.device);
  if (out.size > 0) {
    const dev = a.device;
    const shape: MatmulShape = { M, N, K, batch, transA, transB };
    const config = o.config !== undefined ? resolveMatmulConfig(o.config, dev.features) : pickMatmulConfig(dev, shape);
    if (batch > dev.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`matmul: batch ${batch} exceeds ${dev.limits.maxComputeWorkgroupsPerDimension}; reshape to fewer batch entries`);
    // op(A)[m, k] = A[m·sAm + k·sAk], op(B)[k, n] = B[k·sBk + n·sBn]
    const [sAm, sAk] = transA ? [1, M] : [K, 1];
    const [sBk, sBn] = transB ? [1, K] : [N, 1];
    // without a bias, B stands in at binding 3 (never read: hasBias = 0; two read-only bindings may alias)
    const raw = (t: DeviceArray) => t.rawBuffer('matmul'); // f16 operands too
    const biasBuf = o.bias?.buffer ?? raw(B);
    const types = { aType: operandType(A, dev, o.packedF16), bType: operandType(B, dev, o.packedF16) };
    dev.dispatch(matmulKernelFor(config, matmulLayout(config, shape, types)), {
      buffers: [raw(A), raw(B), biasBuf, out.buffer],
      uniforms: [M, N, K, o.bias ? 1 : 0, aBatch, bBatch, sAm, sAk, sBk, sBn, o.noSubgroupPath ? FLAG_NO_SUBGROUP_PATH : 0, 0],
      workgroups: matmulWorkgroups(config, M, N, batch),
    });
  }
  if (A !== a) A.dispose();
  if (B !== b) B.dispose();
  return out;
}
