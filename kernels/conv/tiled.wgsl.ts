// kernels/conv/tiled.wgsl.ts: conv2d forward (t64x64; with `flipTaps` the stride-1 backward-data) and backward-weight
// (split K) in workgroup-memory tiles for real GPUs, matching torch.nn.functional.conv2d and its weight gradient for
// one group. Their fills (the implicit-GEMM gathers, zero padding as masked reads) plug into tiledGemm
// (kernels/gemm/tileLoop.ts), the loop of matmul's tiled kernel. CPU drivers emulate the barriers and workgroup memory
// slowly, so the dispatcher offers these on real GPUs only.
import { range, tiledGemm, tileGeometry } from '../gemm/tileLoop';
import { CONV_UNIFORMS } from './uniforms';

export interface ConvTiledConfig {
  tm: 2 | 4; // GEMM rows per invocation (forward: output pixels, wgX apart, so neighbouring lanes store neighbouring pixels)
  tn: 2 | 4; // GEMM columns per invocation (forward: output channels, wgY apart)
  wgX: 16;
  wgY: 8 | 16;
  kt: 8 | 16; // K rows per step: sets the size of the workgroup arrays
}

// ---- forward ------------------------------------------------------------------------------------------------------
// The GEMM of pixelsShared.wgsl.ts (K = (tap, c) rows of wT [kH, kW, C, O], the same flipTaps) with the matmul tiled
// kernel's schedule: per K step of KT, the workgroup gathers a BM×KT block of input values (BM output pixels; each
// (tap, c) with its padding mask) and a KT×BN block of weights into workgroup memory, then every invocation runs TM×TN
// FMAs per k from it. A GPU then reads each input value once per BN output channels instead of once per lane.
export const forwardTiledWgsl = (c: ConvTiledConfig): string => {
  const tile = tileGeometry(c, 'x'), { BM, BN, KT, WG } = tile;
  // each invocation fills the same pixel (BM | WG) or channel (BN | WG) of every K step: decode it once
  if (WG % BM !== 0 || WG % BN !== 0 || (BM * KT) % WG !== 0 || (BN * KT) % WG !== 0) throw new Error(`internal: tiled conv ${JSON.stringify(c)} does not split its tiles evenly`);
  const J = range(c.tn);
  return tiledGemm({
    tile,
    declarations: /* wgsl */ `${CONV_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wT: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;`,
    tiles: ["[KT][BM]: input values of (tap, c) at the block's pixels", "[KT][BN]: wT rows of the block's channels"],
    numWorkgroups: true,
    setup: `let HW = u.H * u.W;
  let OHW = u.OH * u.OW;
  let M = u.N * OHW;
  let K = u.kH * u.kW * u.C;
  // pixel blocks run over x and z (more than 65,535 of them fit)
  let row0 = (wid.x + wid.z * nwg.x) * ${BM}u;
  let col0 = wid.y * ${BN}u;
  let tid = lid.y * ${c.wgX}u + lid.x;
  // the pixel this invocation fills As for: its image, its top-left input position and whether it exists
  let fm = tid % ${BM}u; let fp = min(row0 + fm, M - 1u); let fN = fp / OHW;
  let fOrigin = vec2i(vec2u((fp / u.OW) % u.OH, fp % u.OW) * vec2u(u.sh, u.sw)) - vec2i(u.ph, u.pw);
  let fReal = row0 + fm < M; let fImage = fN * u.C * HW;
  // the channel this invocation fills Bs for
  let fo = tid % ${BN}u; let fCol = min(col0 + fo, u.O - 1u); let fColReal = col0 + fo < u.O;`,
    kRange: ['0u', 'K'],
    // As: x at (pixel fm, k = (tap, ci)), 0 in the padding; Bs: wT row k (tap-reversed with flipTaps) at channel fo
    fill: `for (var e = 0u; e < ${(BM * KT) / WG}u; e++) {
      let kk = tid / ${BM}u + e * ${WG / BM}u; let k = t + kk;
      let tap = k / u.C; let ci = k % u.C;
      let at = fOrigin + vec2i(vec2u(tap / u.kW * u.dh, tap % u.kW * u.dw));
      let ok = fReal && k < K && all(at >= vec2i(0)) && all(at < vec2i(i32(u.H), i32(u.W)));
      As[kk * ${BM}u + fm] = select(0.0, x[select(0u, fImage + ci * HW + u32(at.x) * u.W + u32(at.y), ok)], ok);
    }
    for (var e = 0u; e < ${(BN * KT) / WG}u; e++) {
      let kk = tid / ${BN}u + e * ${WG / BN}u; let k = t + kk;
      let tap = k / u.C; let row = select(tap, u.kH * u.kW - 1u - tap, u.flipTaps != 0u) * u.C + k % u.C;
      let ok = fColReal && k < K;
      Bs[kk * ${BN}u + fo] = select(0.0, wT[select(0u, row * u.O + fCol, ok)], ok);
    }`,
    epilogue: J.map((j) => `let o${j} = col0 + ${tile.col(j)}; let bias${j} = select(0.0, bias[min(o${j}, u.O - 1u)], u.hasBias != 0u);`).join('\n  '),
    store: {
      rowAt: (i) => `let p = row0 + ${tile.row(i)};`,
      rowOk: () => 'p < M',
      rowSetup: () => 'let yAt = p / OHW * u.O * OHW + p % OHW;',
      colOk: (j) => `o${j} < u.O`,
      write: (_i, j, v) => `y[yAt + o${j} * OHW] = ${v} + bias${j};`,
    },
  });
};

// ---- backward-weight, split K -------------------------------------------------------------------------------------
// dw[o, r] = Σ_p dy[n, o, p] · x[n, c, p·stride − padding + (kh, kw)·dilation] with r = (c, kh, kw) and p the output
// pixels of every image: a GEMM of O × C·kH·kW outputs with K = N·OH·OW, far too few outputs to fill a GPU. So K is
// split: workgroup z sums pixels [z·chunk, (z + 1)·chunk) and writes its partial block at out[z, o, r]; the dispatcher
// sums the slices (no float atomics in WGSL). Per K step of KT pixels the workgroup gathers dy [KT, BM channels] and
// the input patches [KT, BN columns] into workgroup memory.
export const backwardWeightTiledWgsl = (c: ConvTiledConfig): string => {
  const tile = tileGeometry(c, 'y'), { BM, BN, KT, WG } = tile;
  // each invocation fills the same pixel row fk of every K step (KT | WG): decode that pixel once per step
  if (WG % KT !== 0 || (BM * KT) % WG !== 0 || (BN * KT) % WG !== 0) throw new Error(`internal: tiled conv ${JSON.stringify(c)} does not split its tiles evenly`);
  const EA = range((BM * KT) / WG), EB = range((BN * KT) / WG);
  return tiledGemm({
    tile,
    declarations: /* wgsl */ `${CONV_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [splits, O, C·kH·kW]`,
    tiles: ["[KT][BM]: dy of the block's channels at KT pixels", "[KT][BN]: input values under the block's (c, kh, kw) at KT pixels"],
    setup: `let HW = u.H * u.W;
  let OHW = u.OH * u.OW;
  let kHW = u.kH * u.kW;
  let R = u.C * kHW;
  let P = u.N * OHW;
  let col0 = wid.x * ${BN}u;
  let row0 = wid.y * ${BM}u;
  let p0 = wid.z * u.chunk;
  let pEnd = min(p0 + u.chunk, P);
  let tid = lid.y * ${c.wgX}u + lid.x;
  let fk = tid % ${KT}u; // the pixel row of every K step this invocation fills
  // the channels (dy rows) and the (c, kh, kw) columns it fills: fixed for the whole K loop
  ${EA.map((e) => `let fo${e} = row0 + tid / ${KT}u + ${(e * WG) / KT}u; let foOk${e} = fo${e} < u.O;`).join('\n  ')}
  ${EB.map((e) => `let fr${e} = min(col0 + tid / ${KT}u + ${(e * WG) / KT}u, R - 1u); let frOk${e} = col0 + tid / ${KT}u + ${(e * WG) / KT}u < R;
  let fPlane${e} = fr${e} / kHW * HW; let fShift${e} = vec2i(vec2u(fr${e} % kHW / u.kW * u.dh, fr${e} % u.kW * u.dw)) - vec2i(u.ph, u.pw);`).join('\n  ')}`,
    kRange: ['p0', 'pEnd'],
    // pixel p = t + fk: As gets dy[n, o, p], Bs the input under (c, kh, kw) at p (0 in the padding)
    fill: `let p = t + fk; let pOk = p < pEnd; let pc = min(p, P - 1u);
    let n = pc / OHW; let q = pc % OHW;
    let origin = vec2i(vec2u(q / u.OW, q % u.OW) * vec2u(u.sh, u.sw));
    let dyAt = n * u.O * OHW + q; let xImage = n * u.C * HW;
    ${EA.map((e) => `As[fk * ${BM}u + tid / ${KT}u + ${(e * WG) / KT}u] = select(0.0, dy[select(0u, dyAt + fo${e} * OHW, pOk && foOk${e})], pOk && foOk${e});`).join('\n    ')}
    ${EB.map((e) => `{
      let at = origin + fShift${e};
      let ok = pOk && frOk${e} && all(at >= vec2i(0)) && all(at < vec2i(i32(u.H), i32(u.W)));
      Bs[fk * ${BN}u + tid / ${KT}u + ${(e * WG) / KT}u] = select(0.0, x[select(0u, xImage + fPlane${e} + u32(at.x) * u.W + u32(at.y), ok)], ok);
    }`).join('\n    ')}`,
    epilogue: 'let slice = wid.z * u.O * R;',
    store: {
      rowAt: (i) => `let o = row0 + ${tile.row(i)};`,
      rowOk: () => 'o < u.O',
      colAt: (j) => `let r = col0 + ${tile.col(j)};`,
      colOk: () => 'r < R',
      write: (_i, _j, v) => `out[slice + o * R + r] = ${v};`,
    },
  });
};
