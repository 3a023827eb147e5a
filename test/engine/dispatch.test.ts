// test/engine/dispatch.test.ts: Device.dispatch's cached bind groups (the uniform slot bound at a dynamic offset) and
// the buffer pool's fixed hand-out order that lets a training loop's bind groups repeat step after step.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import type { Kernel } from '../../runtime';

const addUniform: Kernel = {
  label: 'test: y[0] += u.v',
  code: `struct U { v: f32, a: u32, b: u32, c: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() { y[0] = y[0] + u.v; }`,
};
const f32bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];

describe('Device.dispatch', () => {
  const dev = () => os.device();

  it('reuses one bind group for the same kernel and buffers; each dispatch still reads its own uniforms', async () => {
    const y = os.zeros([1]);
    const before = dev().bindGroupCount;
    for (const v of [1, 2, 4]) dev().dispatch(addUniform, { buffers: [y.buffer], uniforms: [f32bits(v), 0, 0, 0], workgroups: [1] });
    expect(dev().bindGroupCount).toBe(before + 1);
    expect((await y.data())[0]).toBe(7); // 1 + 2 + 4: three uniform slots behind one bind group
    y.dispose();
  });

  it('names the mismatch when a kernel declares uniforms and none are given', () => {
    const y = os.zeros([1]);
    expect(() => dev().dispatch(addUniform, { buffers: [y.buffer], workgroups: [1] })).toThrow(/declares a var<uniform> at binding 0, but no uniforms were given/);
    y.dispose();
  });

  it('the pool hands out the earliest-made free buffer of a size, whatever order they came back in', () => {
    const bytes = 4 * 1237; // a size class no other test here uses
    const [a, b, c] = [dev().alloc(bytes), dev().alloc(bytes), dev().alloc(bytes)];
    for (const buf of [b, c, a]) dev().release(buf);
    const got = [dev().alloc(bytes), dev().alloc(bytes), dev().alloc(bytes)];
    for (const buf of [c, a, b]) dev().release(buf);
    expect(dev().alloc(bytes)).toBe(got[0]);
    expect(got.map((g) => [a, b, c].indexOf(g))).toEqual([0, 1, 2]);
  });

  it('a training loop stops making bind groups after its first steps (same buffers, same groups, every step)', async () => {
    os.manualSeed(1);
    const net = new os.nn.Sequential(new os.nn.Linear(3, 17), new os.nn.SiLU(), new os.nn.Linear(17, 5));
    const opt = new os.optim.Adam(net.parameters(), { lr: 1e-3 });
    const x = os.randn([33, 3], { seed: 2 }), t = os.randn([33, 5], { seed: 3 });
    const step = () => {
      os.tidy(() => os.mseLoss(net.forward(x), t).backward());
      opt.step();
      opt.zeroGrad();
    };
    for (let i = 0; i < 3; i++) step();
    await os.sync();
    const groups = dev().bindGroupCount, d0 = os.memory().dispatches;
    for (let i = 0; i < 4; i++) step();
    await os.sync();
    expect(os.memory().dispatches - d0).toBeGreaterThan(40);
    expect(dev().bindGroupCount).toBe(groups);
    for (const p of [x, t, ...net.parameters()]) p.dispose();
  });

  it('trimPool drops the cached bind groups with the buffers it destroys', () => {
    const y = os.zeros([1]);
    dev().dispatch(addUniform, { buffers: [y.buffer], uniforms: [f32bits(1), 0, 0, 0], workgroups: [1] });
    expect(dev().bindGroupCount).toBeGreaterThan(0);
    dev().trimPool();
    expect(dev().bindGroupCount).toBe(0);
    y.dispose();
  });
});
