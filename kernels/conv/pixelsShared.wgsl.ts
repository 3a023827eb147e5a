// kernels/conv/pixelsShared.wgsl.ts: conv2d forward with the pixels shared by a workgroup (the p16x8 variant; with
// `flipTaps` also the stride-1 backward-data), matching torch.nn.functional.conv2d for one group. It is the matmul
// subgroup kernel's layout: its reads plug into subgroupGemm (kernels/gemm/tileLoop.ts).
//
// The same sum as conv2d.wgsl.ts's forward with the roles of lanes swapped: a workgroup's TM output pixels are shared
// by all its lanes and each lane owns TN output channels, so the weights are the per-lane operand and stream as vec4s
// from a transposed copy wT [kH, kW, C, O] (K = (tap, c) rows of O contiguous channels), while each input value is
// loaded by one lane of SG and handed round with subgroupBroadcast. The pixel offsets and padding masks of a tap are
// the same in every lane. On SwiftShader, where per-lane gathers of x dominate the lanes-own-pixels forward, this is
// the layout that runs at matmul speed. With `flipTaps` the weights are read tap-reversed: a stride-1 backward-data is
// this forward over dy with the kernel flipped (dispatch.ts, conv2dBackwardData).
import { range, subgroupGemm } from '../gemm/tileLoop';
import { CONV_UNIFORMS, IN_IMAGE } from './uniforms';

export interface ConvSharedConfig {
  tm: 8 | 16; // output pixels per workgroup, shared by its lanes
  tn: 4 | 8; // output channels per lane (vec4 weight loads)
  wg: 4 | 8 | 16; // lanes per workgroup: channels per workgroup = wg · tn
  sg: 4 | 8; // lanes that split the input loads (≤ the adapter's smallest subgroup)
}

export const forwardSharedWgsl = (c: ConvSharedConfig): string => {
  const I = range(c.tm), J = range(c.tn), Q = range(c.tn / 4);
  return subgroupGemm({
    tm: c.tm,
    tn: c.tn,
    sg: c.sg,
    share: 'broadcast',
    declarations: /* wgsl */ `enable subgroups;
${CONV_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wT: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${IN_IMAGE}`,
    workgroupSize: `${c.wg}`,
    params: '@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32',
    setup: `let HW = u.H * u.W;
  let OHW = u.OH * u.OW;
  let M = u.N * OHW;
  // pixel blocks run over y and z (more than 65,535 of them fit); the exit is uniform per workgroup
  let row0 = (wid.y + wid.z * nwg.y) * ${c.tm}u;
  if (row0 >= M) { return; }
  let col0 = (wid.x * ${c.wg}u + lid) * ${c.tn}u;`,
    locate: `${I.map((i) => `let p${i} = min(row0 + ${i}u, M - 1u); let n${i} = p${i} / OHW; let out${i} = vec2u((p${i} / u.OW) % u.OH, p${i} % u.OW);`).join('\n  ')}
  ${Q.map((q) => `let oq${q} = min(col0 + ${4 * q}u, u.O - 4u);`).join(' ')}`,
    // K = (tap, ci): the taps outside, a run over the channels inside
    loop: (run) => `for (var kh = 0u; kh < u.kH; kh++) {
    for (var kw = 0u; kw < u.kW; kw++) {
      let tap = kh * u.kW + kw;
      let shift = vec2i(vec2u(kh * u.dh, kw * u.dw)) - vec2i(u.ph, u.pw);
      ${I.map((i) => `let in${i} = vec2i(out${i} * vec2u(u.sh, u.sw)) + shift; let ok${i} = inImage(in${i}); let xAt${i} = select(0u, n${i} * u.C * HW + u32(in${i}.x) * u.W + u32(in${i}.y), ok${i});`).join('\n      ')}
      let k0 = select(tap, u.kH * u.kW - 1u - tap, u.flipTaps != 0u) * u.C; // wT row of (tap, channel 0)
      ${run('      ')}
    }
  }`,
    run: {
      k: 'ci',
      end: 'u.C',
      // a: x[n, ci, pixel under the tap] (0 in the padding); b: wT[tap, ci, o…o+3]
      readA: (i, ci) => `select(0.0, x[xAt${i} + ${ci} * HW], ok${i})`,
      readB: (ci) => ({ loads: Q.map((q) => `let bv${q} = wT[((k0 + ${ci}) * u.O + oq${q}) / 4u];`), value: (j) => `bv${j >> 2}[${j & 3}]` }),
    },
    epilogue: J.map((j) => `let o${j} = col0 + ${j}u; let bias${j} = select(0.0, bias[min(o${j}, u.O - 1u)], u.hasBias != 0u);`).join('\n  '),
    store: {
      rowOk: (i) => `row0 + ${i}u < M`,
      rowSetup: (i) => `let yAt = n${i} * u.O * OHW + out${i}.x * u.OW + out${i}.y;`,
      colOk: (j) => `o${j} < u.O`,
      write: (_i, j, v) => `y[yAt + o${j} * OHW] = ${v} + bias${j};`,
    },
  });
};
