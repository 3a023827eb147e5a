// test/models/unet.test.ts: the UNet's structure (channels, skips, bottleneck), its zero-initialised output, the
// adaptive group-norm modulation against finite differences, config errors, and that it learns (EDM loss falls on a
// fixed batch). Equality with an independent PyTorch implementation, forward and every gradient, is in
// test/interop.test.ts.
import { describe, expect, it } from 'vitest';
import * as os from '../../engine';
import { FormatError, ShapeError, ValueError } from '../../engine/errors';
import * as m from '../../models';
import { modulate, unetParamCount } from '../../models/unet';
import { checkOp, expectThrows } from '../helpers';
import { groupNormRef } from '../../kernels/norm/reference';

const tiny: Partial<m.UNetConfig> = { resolution: 8, inChannels: 1, outChannels: 1, labelDim: 3, modelChannels: 8, channelMult: [1, 2], numBlocks: 1, attnResolutions: [4], channelsPerHead: 8 };

describe('UNet', () => {
  it('modulate = silu(shift + GN(x)·(scale+1)) in one group-norm kernel, with a backward that matches finite differences (odd shapes)', async () => {
    const silu = (u: number) => u / (1 + Math.exp(-u));
    for (const [N, C, H, W, G] of [[1, 3, 1, 1, 1], [3, 5, 3, 7, 5], [2, 17, 5, 3, 17], [2, 8, 4, 4, 2]]) {
      const norm = new os.nn.GroupNorm(G, C, { affine: false });
      await checkOp(
        'modulate',
        [[N, C, H, W], [N, C], [N, C]],
        (x, sc, sh) => modulate(x, norm, sc, sh),
        (x, sc, sh) => {
          const n = groupNormRef(x, G, undefined, undefined, norm.eps);
          return { data: n.data.map((v, i) => { const nc = Math.floor(i / (H * W)); return silu(sh.data[nc] + v * (sc.data[nc] + 1)); }), shape: n.shape };
        },
        { grads: true, atol: 1e-5, rtol: 1e-4, gradAtol: 2e-3, gradRtol: 2e-3 },
      );
    }
    const before = os.memory().dispatches;
    const x = os.randn([2, 8, 4, 4]), sc = os.randn([2, 8]), sh = os.randn([2, 8]);
    const y = modulate(x, new os.nn.GroupNorm(2, 8, { affine: false }), sc, sh);
    expect(os.memory().dispatches - before).toBe(3 + 2); // 3 draws; scale + 1 and the norm kernel
    expectThrows(() => modulate(x, new os.nn.GroupNorm(2, 8), sc, sh), ValueError, 'modulate', 'affine: false');
    for (const t of [x, sc, sh, y]) t.dispose();
  });

  it('has the encoder/bottleneck/decoder layout of EDM DhariwalUNet and exposes the bottleneck', async () => {
    const net = new m.UNet(tiny);
    // enc: level 0 one block; level 1 a down block + one block. mid: attention + plain. dec: 2 blocks at level 1, up, 2 at level 0
    expect(net.enc.length).toBe(3);
    expect(net.dec.length).toBe(5);
    expect(net.enc.at(2).attn).not.toBeNull(); // 4×4 is in attnResolutions
    expect(net.enc.at(0).attn).toBeNull();
    expect(net.mid.at(0).attn).not.toBeNull();
    expect(net.dec.at(0).inC).toBe(32); // 16 bottleneck + 16 skip
    expect(net.bottleneckShape).toEqual([16, 4, 4]);
    const x = os.randn([3, 1, 8, 8]);
    const labels = os.oneHot(os.tensor([0, 2, 1]), 3);
    const { out, bottleneck } = net.forwardWithFeatures(x, os.tensor([0.1, -0.3, 1]), labels);
    expect(out.shape).toEqual([3, 1, 8, 8]);
    expect(bottleneck.shape).toEqual([3, 16, 4, 4]);
    // zero-initialised output conv: a fresh network outputs zeros, so D(x; σ) = c_skip·x
    expect(Math.max(...(await out.data()).map(Math.abs))).toBe(0);
    const keys = Object.keys(net.stateDict());
    for (const k of ['mapNoise0.weight', 'mapLabel.weight', 'convIn.weight', 'enc.1.conv0.weight', 'enc.2.attn.qkv.weight', 'mid.0.attn.proj.bias', 'dec.0.skip.weight', 'normOut.weight', 'convOut.bias']) expect(keys).toContain(k);
    expect(keys).not.toContain('mapLabel.bias');
    expect(keys.some((k) => k.includes('norm1'))).toBe(false); // GN1 has no affine: the embedding's scale/shift replace it
    net.dispose();
  });

  it('conditions on the class and the noise level', async () => {
    const net = new m.UNet(tiny);
    os.noGrad(() => net.parameters().forEach((p) => os.assign(p, os.tidy(() => os.mul(os.randn(p.shape), 0.2)))));
    const x = os.randn([2, 1, 8, 8], { seed: 3 });
    const a = await net.forward(x, os.tensor([0.2, 0.2]), os.oneHot(os.tensor([0, 1]), 3)).data();
    const b = await net.forward(x, os.tensor([0.2, 0.2]), os.oneHot(os.tensor([1, 1]), 3)).data();
    const c = await net.forward(x, os.tensor([0.2, 0.9]), os.oneHot(os.tensor([0, 1]), 3)).data();
    const diff = (p: Float32Array, q: Float32Array, lo: number, hi: number) => Math.max(...Array.from(p.subarray(lo, hi), (v, i) => Math.abs(v - q[lo + i])));
    expect(diff(a, b, 0, 64)).toBeGreaterThan(1e-3); // sample 0's class changed
    expect(diff(a, b, 64, 128)).toBe(0); // sample 1 untouched (no batch mixing)
    expect(diff(a, c, 64, 128)).toBeGreaterThan(1e-3); // sample 1's σ changed
    expect(diff(a, c, 0, 64)).toBe(0);
    net.dispose();
  });

  it('learns: the EDM loss on a fixed batch falls by half in 60 Adam steps', async () => {
    os.manualSeed(11);
    const den = new m.EDMDenoiser(new m.UNet({ ...tiny, labelDim: 0 }));
    const opt = new os.optim.Adam(den.parameters(), { lr: 3e-3 });
    const y = os.keep(os.tidy(() => os.tanh(os.mul(os.randn([4, 1, 8, 8], { seed: 9 }), 2))));
    const sigma = os.keep(os.tensor([0.3, 0.5, 1, 2]));
    const noise = os.keep(os.randn([4, 1, 8, 8], { seed: 10 }));
    const losses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const l = os.tidy(() => {
        const loss = m.fSpaceLoss(den, y, sigma, null, noise);
        loss.backward();
        return loss;
      });
      opt.step();
      opt.zeroGrad();
      if (i === 0 || i === 59) losses.push(await l.item());
      l.dispose();
      if (i % 20 === 19) await os.sync();
    }
    expect(losses[1]).toBeLessThan(0.5 * losses[0]);
    den.dispose();
  });

  it('refuses bad configs and inputs with the fix in the message', () => {
    expectThrows(() => new m.UNet({ ...tiny, resolution: 6, channelMult: [1, 2, 2] }), ValueError, 'resolution 6', 'divisible by');
    expectThrows(() => new m.UNet({ ...tiny, modelChannels: 7 }), ValueError, 'modelChannels 7');
    expectThrows(() => new m.UNet({ ...tiny, dropout: 1 }), ValueError, 'dropout');
    const net = new m.UNet(tiny);
    expectThrows(() => net.forward(os.zeros([2, 3, 8, 8]), os.zeros([2]), null), ShapeError, '[2,3,8,8]', '[B, 1, 8, 8]');
    expectThrows(() => net.forward(os.zeros([2, 1, 8, 8]), os.zeros([2]), os.zeros([2, 4])), ShapeError, 'labels', '[2, 3]');
    net.dispose();
  });

  it('unetParamCount matches the module for several configs, without building it', () => {
    for (const cfg of [tiny, {}, { ...tiny, numBlocks: 2, channelMult: [1, 2, 2], resolution: 16, attnResolutions: [8, 4], labelDim: 0 }, { ...tiny, modelChannels: 16, embMult: 2, channelsPerHead: 4 }]) {
      const net = new m.UNet(cfg);
      expect(unetParamCount(net.config)).toBe(net.numParameters());
      net.dispose();
    }
  });

  it('loadModel vets the metadata and the parameter count before building anything', async () => {
    const meta: m.ModelMeta = { kind: 'edm-denoiser', net: 'unet', netConfig: { ...m.UNET_DEFAULTS, ...tiny } as m.UNetConfig, sigmaData: 0.5, data: 'test' };
    const den = m.buildDenoiser(meta);
    const tensors = den.stateDict();
    const withMeta = async (raw: string) => os.io.saveSafetensors(tensors, { onestep: raw });
    await expect(m.loadModel(await withMeta('null'))).rejects.toThrow(FormatError);
    await expect(m.loadModel(await withMeta('{"kind":"edm-denoiser"}'))).rejects.toThrow(/netConfig/);
    // a config asking for a far larger network than the file holds
    const huge = { ...meta, netConfig: { ...meta.netConfig, modelChannels: 4096 } };
    await expect(m.loadModel(await withMeta(JSON.stringify(huge)))).rejects.toThrow(/describes \d+ parameters but the file holds \d+/);
    await expect(m.loadModel(await withMeta(JSON.stringify({ ...meta, netConfig: { ...meta.netConfig, channelMult: 'x' } })))).rejects.toThrow(FormatError);
    const ok = await m.loadModel(await withMeta(JSON.stringify(meta)));
    expect(ok.den.numParameters()).toBe(den.numParameters());
    ok.den.dispose();
    den.dispose();
  });
});
