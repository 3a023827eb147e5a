// kernels/conv/uniforms.ts: the uniform block every conv2d kernel reads (its WGSL struct) and the host-side words that
// fill it, side by side so the two cannot drift; the geometry follows torch.nn.functional.conv2d's arguments.

/** Stride, zero padding before the first row / column, dilation and groups; each pair is (height, width). */
export interface ConvGeometry {
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
  groups: number;
}

/** The uniform block of every conv kernel; `convUniforms` fills it in this order. */
export const CONV_UNIFORMS = /* wgsl */ `
struct U {
  N: u32, C: u32, H: u32, W: u32,     // x  [N, C, H, W]
  O: u32, OH: u32, OW: u32, G: u32,   // y  [N, O, OH, OW]; G groups: x channels g·C/G.., y channels g·O/G..
  kH: u32, kW: u32, sh: u32, sw: u32, // weight [O, C/G, kH, kW]; stride
  ph: i32, pw: i32, dh: u32, dw: u32, // padding before the first row / column (zeros); dilation
  hasBias: u32, flipTaps: u32, chunk: u32, pad2: u32, // flipTaps: the wT kernels read tap kH·kW − 1 − t; chunk: pixels per split-K slice
}
@group(0) @binding(0) var<uniform> u: U;`;

/** Whether input pixel p lies inside the image (outside it, the zero padding). */
export const IN_IMAGE = 'fn inImage(p: vec2i) -> bool { return all(p >= vec2i(0)) && all(p < vec2i(i32(u.H), i32(u.W))); }';

/** The words of CONV_UNIFORMS: x [N, C, H, W], y [N, O, OH, OW], kernel (kH, kW), geometry. */
export function convUniforms(x: readonly number[], y: readonly number[], k: readonly number[], g: ConvGeometry, hasBias: boolean, flipTaps = false, chunk = 0): number[] {
  const [N, C, H, W] = x, [, O, OH, OW] = y, [kH, kW] = k;
  return [N, C, H, W, O, OH, OW, g.groups, kH, kW, g.stride[0], g.stride[1], g.padding[0], g.padding[1], g.dilation[0], g.dilation[1], hasBias ? 1 : 0, flipTaps ? 1 : 0, chunk, 0];
}
