// kernels/elementwise/fused.wgsl.ts: one kernel for a chain (a DAG) of elementwise functions, generated for fixed
// shapes: what a compiled step (engine/compile/fuse.ts) runs in place of the ops it fuses. Each output element
// evaluates every step as a WGSL function of its arguments (inputs read at their broadcast offsets, or earlier steps),
// so intermediate values never reach memory. Shapes and strides are baked in as constants: a compiled step's shapes
// never change, and division by a constant compiles to a multiply. The steps' own constants (a scalar op's operand)
// are not: they come from a uniform, as they do in the eager kernels (see ConstAt).
import { f32bits, type Device, type Kernel } from '../../runtime';
import { UNIFORM_SLOT } from '../../runtime/uniforms';
import { coalesce, grid1d, main1d, WG } from '../grid';
import { WGSL_MATH } from './ops';

/** A scalar function of named f32 arguments (an elementwise op's math), with named constants. */
export interface Pointwise {
  args: readonly string[];
  expr: string;
  consts?: Readonly<Record<string, number>>;
}

/** An argument of a step: an input of the kernel, or the value of an earlier step. */
export type FusedArg = { input: number } | { step: number };

export interface FusedKernelSpec {
  /** The output's shape. */
  shape: readonly number[];
  /** Per input: its strides over `shape` (0 on dims it is broadcast along), or null when it has `shape` itself. */
  inputs: readonly (readonly number[] | null)[];
  /** Per input: where its window starts (a slice read in place); 0 where absent. */
  offsets?: readonly number[];
  /** In evaluation order; the last step is the output. */
  steps: readonly { fn: Pointwise; args: readonly FusedArg[] }[];
  /** Names the kernel in errors and profiles (the fused ops). */
  label: string;
  /**
   * Where the result goes when not to an array of its own: element c at offset + Σ c_d·strides_d of a larger tensor
   * (its slice of a cat's output, which a compiled step then never copies).
   */
  output?: { strides: readonly number[]; offset: number };
}

/**
 * vec4s each invocation of the contiguous form handles, a grid apart (as kernels/elementwise/dispatch.ts does), in a
 * grid-stride loop rather than unrolled: a step has a fused kernel per chain, and on a fresh machine their first
 * compiles add up. llvmpipe compiles the loop 3–4× faster (a DMD iteration's three slowest fused kernels: 2.2 → 0.55 s),
 * at the same speed on the DMD step's 32K-element chains. The eager kernels keep the unrolled form (one kernel per op;
 * ~10% faster at 1M elements).
 */
const FLAT_VEC4S = 4;

/** A WGSL f32 expression for a number, exactly (non-finite values through the runtime helpers: WGSL rejects them in constants). */
export function f32Literal(v: number): string {
  if (Number.isNaN(v)) return 'nan_()';
  if (v === Infinity) return 'inf_()';
  if (v === -Infinity) return '-inf_()';
  return `bitcast<f32>(${f32bits(v)}u)`;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Where a kernel reads its steps' constants: the WGSL expression of constant k (stepConsts order), a uniform field.
 * Fused steps must round as the eager kernels do, each storing its result: 200 compiled DMD iterations drifted from
 * eager mode's parameters by 1.75e-4 (bench/compile-check.ts) when they did not. Two things let the shader compiler fold one
 * step into the next: constants baked in as literals (pow(x, 2) became x·x; the eager kernels take a scalar op's
 * operand as a uniform), and arithmetic across the step boundary (a·1.5 followed by exp's ·log₂e was reassociated).
 * So constants are runtime values, and each step's result passes through stored(), an exact identity the compiler
 * cannot see through (an XOR with constant 0, which is 0 only at run time). Chains that differ only in their
 * constants then share one pipeline too.
 */
export type ConstAt = (k: number) => string;

/** The constants of a spec's steps, in the order ConstAt numbers them: 0 first (stored()'s), then each step's. */
const stepConsts = (spec: Pick<FusedKernelSpec, 'steps'>): number[] => [0, ...spec.steps.flatMap((s) => Object.values(s.fn.consts ?? {}))];

/** Where a kernel's steps' constants go in its uniform slot, after the kernel's own words: see constSlot. */
export interface ConstSlot {
  /** They fit in the slot (else they are baked in as literals). */
  fits: boolean;
  /** WGSL type of the uniform member (or binding) that holds them: array<vec4f, ⌈n/4⌉>. */
  type: string;
  /** How the step functions read constant k, given that member's WGSL name (undefined: baked in). */
  at(member: string): ConstAt | undefined;
  /** The dispatch's uniform words: the kernel's own (the first ownWords of `words`), then the constants if they fit. */
  words(words: ArrayLike<number>): Uint32Array;
}

/**
 * The constants of `spec`'s steps in a uniform slot whose first `ownWords` words are the kernel's own (0 for a fused
 * kernel, the dims of a reduction or a matmul). A spec without steps (a reduction's identity prologue) has none.
 */
export function constSlot(spec: Pick<FusedKernelSpec, 'steps'>, ownWords: number): ConstSlot {
  const consts = stepConsts(spec);
  const fits = spec.steps.length > 0 && consts.length <= UNIFORM_SLOT / 4 - ownWords;
  return {
    fits,
    type: `array<vec4f, ${Math.ceil(consts.length / 4)}>`,
    at: (member) => (fits ? (k) => `${member}[${k >> 2}][${k & 3}]` : undefined),
    words: (words) => {
      const out = new Uint32Array(ownWords + (fits ? Math.ceil(consts.length / 4) * 4 : 0));
      out.set(Array.from(words).slice(0, ownWords));
      if (fits) consts.forEach((c, k) => (out[ownWords + k] = f32bits(c)));
      return out;
    },
  };
}

/**
 * One WGSL function per step (step0, step1, …) and stored(): kernels that evaluate a spec's steps declare these.
 * Constants are read through `constAt` (see ConstAt); without it they are baked in as literals and stored() is the
 * plain identity (a chain too long for its uniform slot: its bits may then differ from eager mode's in the last place).
 */
export function stepFunctions(spec: Pick<FusedKernelSpec, 'steps'>, constAt?: ConstAt): string {
  let k = 1;
  const stored = constAt ? `fn stored(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ bitcast<u32>(${constAt(0)})); }` : 'fn stored(x: f32) -> f32 { return x; }';
  const steps = spec.steps.map((s, j) => {
    const consts = Object.entries(s.fn.consts ?? {}).map(([name, v]) => `let ${name} = ${constAt ? constAt(k++) : f32Literal(v)};`).join(' ');
    return `fn step${j}(${s.fn.args.map((a) => `${a}: f32`).join(', ')}) -> f32 { ${consts} return ${s.fn.expr}; }`;
  });
  return [stored, ...steps].join('\n');
}

/** The statements that evaluate every step from `load(k)` (input k's value) into t0, t1, …; the last is the result. */
export function evaluate(spec: FusedKernelSpec, load: (k: number) => string): string {
  return spec.steps.map((s, j) => `let t${j} = stored(step${j}(${s.args.map((a) => ('input' in a ? load(a.input) : `t${a.step}`)).join(', ')}));`).join(' ');
}

/**
 * The steps' constants at binding 0 (where they fit), the inputs in0, in1, … at bindings 1, 2, … and the output after
 * them, all arrays of `elem`. The contiguous form's uniform block starts with its own words (OWN_WORDS: the vec4 count),
 * so one kernel serves a chain at every size.
 */
function bindings(spec: FusedKernelSpec, elem: 'f32' | 'vec4f'): string {
  const own = ownWords(spec);
  const slot = constSlot(spec, own);
  const uniform = slot.fits ? [`struct U { ${own ? 'n4: u32, p0: u32, p1: u32, p2: u32, ' : ''}cs: ${slot.type} }`, '@group(0) @binding(0) var<uniform> u: U;'] : [];
  const inputs = spec.inputs.map((_, k) => `@group(0) @binding(${k + 1}) var<storage, read> in${k}: array<${elem}>;`);
  return [...uniform, ...inputs, `@group(0) @binding(${spec.inputs.length + 1}) var<storage, read_write> out: array<${elem}>;`].join('\n');
}

/** Uniform words a fused kernel keeps before its steps' constants: the contiguous form's vec4 count (and padding). */
const OWN_WORDS = 4;
const ownWords = (spec: FusedKernelSpec) => (contiguous(spec) ? OWN_WORDS : 0);

/** The step functions of a fused kernel, reading their constants from binding 0 where they fit. */
const fusedSteps = (spec: FusedKernelSpec) => stepFunctions(spec, constSlot(spec, ownWords(spec)).at('u.cs'));

/** vec4s the contiguous form walks (the last one's lanes past the size compute garbage nothing reads). */
const vec4s = (spec: FusedKernelSpec) => Math.ceil(size(spec.shape) / 4);

/** The uniform words of a fused kernel's dispatch (its own, then its steps' constants), or null when they are baked in. */
export function fusedWords(spec: FusedKernelSpec): Uint32Array | null {
  const own = ownWords(spec);
  const slot = constSlot(spec, own);
  return slot.fits ? slot.words(own ? [vec4s(spec), 0, 0, 0] : []) : null;
}

/** Every input has the output's shape: vec4 loads and stores, the steps evaluated per lane. */
function contiguousKernel(spec: FusedKernelSpec): string {
  // the vec4 count: a uniform word where the block exists (one kernel for every size), else baked in
  const n4 = constSlot(spec, OWN_WORDS).fits ? 'u.n4' : `${vec4s(spec)}u`;
  const last = `t${spec.steps.length - 1}`;
  const lanes = ['x', 'y', 'z', 'w'];
  return /* wgsl */ `
${bindings(spec, 'vec4f')}
${WGSL_MATH}
${fusedSteps(spec)}
${main1d()}
  let stride = nwg.x * nwg.y * ${WG}u;
  for (var j = i; j < ${n4}; j += stride) {
    ${spec.inputs.map((_, k) => `let v${k} = in${k}[j];`).join(' ')}
    var r: vec4f;
    ${lanes.map((l) => `{ ${evaluate(spec, (k) => `v${k}.${l}`)} r.${l} = ${last}; }`).join('\n    ')}
    out[j] = r;
  }
}`;
}

/** Some input is broadcast, or the output is strided: one element per invocation, its coordinates decoded over the (merged) dims. */
function broadcastKernel(spec: FusedKernelSpec): string {
  const n = size(spec.shape);
  // merge the dims every broadcast input and the output walk contiguously (contiguous inputs read at i: no constraint)
  const broadcast = spec.inputs.flatMap((s, k) => (s ? [k] : []));
  const walkers = [...broadcast.map((k) => spec.inputs[k]!), ...(spec.output ? [spec.output.strides] : [])];
  const merged = coalesce(spec.shape, walkers);
  const dims = merged.shape.length ? merged.shape : [1];
  const stridesOf = (j: number) => (merged.shape.length ? merged.strides[j] : [0]);
  const strides = new Map(broadcast.map((k, j) => [k, stridesOf(j)]));
  const decode = dims
    .map((_, d) => dims.length - 1 - d)
    .map((d) => (d > 0 ? `let c${d} = rem % ${dims[d]}u; rem = rem / ${dims[d]}u;` : 'let c0 = rem;'))
    .join(' ');
  // base + Σ c_d·s_d over the merged dims
  const at = (s: readonly number[], base: number) => [base ? `${base}u` : '', ...s.map((x, d) => (x === 0 ? '' : x === 1 ? `c${d}` : `c${d} * ${x}u`))].filter(Boolean).join(' + ') || '0u';
  const offset = (k: number) => {
    const start = spec.offsets?.[k] ?? 0;
    if (spec.inputs[k] === null) return start ? `${start}u + i` : 'i';
    return at(strides.get(k)!, start);
  };
  const outAt = spec.output ? at(stridesOf(broadcast.length), spec.output.offset) : 'i';
  return /* wgsl */ `
${bindings(spec, 'f32')}
${WGSL_MATH}
${fusedSteps(spec)}
${main1d()}
  if (i >= ${n}u) { return; }
  var rem = i; ${decode}
  ${spec.inputs.map((_, k) => `let v${k} = in${k}[${offset(k)}];`).join(' ')}
  ${evaluate(spec, (k) => `v${k}`)}
  out[${outAt}] = t${spec.steps.length - 1};
}`;
}


const cache = new Map<string, Kernel>();

/** The fused kernel for a spec (cached by its source). */
export function fusedKernel(spec: FusedKernelSpec): Kernel {
  const code = contiguous(spec) ? contiguousKernel(spec) : broadcastKernel(spec);
  let k = cache.get(code);
  if (!k) cache.set(code, (k = { code, label: `fused ${spec.label}` }));
  return k;
}

/** Workgroups of a fused kernel's dispatch. */
export function fusedWorkgroups(dev: Device, spec: FusedKernelSpec): [number, number] {
  return grid1d(dev, contiguous(spec) ? Math.ceil(vec4s(spec) / FLAT_VEC4S) : size(spec.shape));
}

/** Every input and the output have the spec's shape: the vec4 form. */
const contiguous = (spec: FusedKernelSpec) => !spec.output && spec.inputs.every((s) => s === null) && !spec.offsets?.some((o) => o !== 0);
