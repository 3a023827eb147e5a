// test/interop.test.ts: the PyTorch mirror (interop/pytorch) gives the same denoiser outputs as onestep for the same
// weights, in both directions: an onestep file evaluated in PyTorch, and a file PyTorch wrote evaluated here.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as os from '../engine';
import * as m from '../models';
import { hasShaderF16 } from '../kernels/cast/dispatch';
import { expectClose } from './helpers';

const root = join(__dirname, '..');
const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

function py(...args: string[]) {
  const r = spawnSync(python, [join(root, 'interop', 'pytorch', 'check.py'), ...args], { encoding: 'utf8', cwd: join(root, 'interop', 'pytorch'), timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
}

describe('PyTorch mirror', () => {
  it('has PyTorch available (installed by scripts/setup.sh as python3-torch)', () => {
    expect(hasTorch, 'python3-torch is missing: run bash scripts/setup.sh').toBe(true);
  });

  it('onestep → PyTorch and PyTorch → onestep give the same D(x; σ) to 1e-4', async () => {
    if (!hasTorch) return; // reported by the test above
    const dir = mkdtempSync(join(tmpdir(), 'onestep-interop-'));
    os.manualSeed(5);
    const meta: m.ModelMeta = { kind: 'edm-denoiser', net: 'mlp', netConfig: { ...m.MLP_DEFAULTS, hidden: 32 }, sigmaData: 0.5, data: '8gaussians' };
    const den = m.buildDenoiser(meta);
    os.noGrad(() => den.parameters().forEach((p) => os.assign(p, os.tidy(() => os.mul(os.randn(p.shape), 0.3)))));
    writeFileSync(join(dir, 'model.safetensors'), await m.saveModel(den, meta));
    const x = os.mul(os.randn([64, 2], { seed: 1 }), 2);
    const sigma = os.exp(os.mul(os.randn([64], { seed: 2 }), 2));
    writeFileSync(join(dir, 'inputs.safetensors'), await os.io.saveSafetensors({ x, sigma }));

    py('forward', join(dir, 'model.safetensors'), join(dir, 'inputs.safetensors'), join(dir, 'torch-out.safetensors'));
    const torchOut = (await os.io.loadSafetensors(new Uint8Array(readFileSync(join(dir, 'torch-out.safetensors'))))).tensors.d;
    expectClose(await torchOut.data(), await den.forward(x, sigma).data(), { atol: 1e-4, rtol: 1e-4 });

    // PyTorch edits the weights and saves; onestep loads the file (strict keys) and matches PyTorch's forward
    py('roundtrip', join(dir, 'model.safetensors'), join(dir, 'edited.safetensors'));
    py('forward', join(dir, 'edited.safetensors'), join(dir, 'inputs.safetensors'), join(dir, 'torch-out2.safetensors'));
    const { den: edited } = await m.loadModel(new Uint8Array(readFileSync(join(dir, 'edited.safetensors'))));
    const torchOut2 = (await os.io.loadSafetensors(new Uint8Array(readFileSync(join(dir, 'torch-out2.safetensors'))))).tensors.d;
    const ours2 = await edited.forward(x, sigma).data();
    expectClose(await torchOut2.data(), ours2, { atol: 1e-4, rtol: 1e-4 });
    const before = await den.forward(x, sigma).data();
    expect(Math.max(...ours2.map((v, i) => Math.abs(v - before[i])))).toBeGreaterThan(1e-3); // the edit took effect
  });

  it('the UNet agrees with an independent PyTorch UNet: D(x; σ, y), ∂/∂x and ∂/∂ every parameter to 1e-4', async () => {
    if (!hasTorch) return;
    const dir = mkdtempSync(join(tmpdir(), 'onestep-interop-unet-'));
    os.manualSeed(7);
    const netConfig: m.UNetConfig = { ...m.UNET_DEFAULTS, resolution: 8, labelDim: 3, modelChannels: 8, channelMult: [1, 2], numBlocks: 1, attnResolutions: [4], channelsPerHead: 8 };
    const meta: m.ModelMeta = { kind: 'edm-denoiser', net: 'unet', netConfig, sigmaData: 0.5, data: 'test' };
    const den = m.buildDenoiser(meta);
    // random weights everywhere (the zero-initialised convs would hide most of the network)
    os.noGrad(() => den.parameters().forEach((p) => os.assign(p, os.tidy(() => os.mul(os.randn(p.shape), 0.25)))));
    writeFileSync(join(dir, 'model.safetensors'), await m.saveModel(den, meta));
    const B = 3;
    const x = os.randn([B, 1, 8, 8], { seed: 1, requiresGrad: true });
    const sigma = os.tensor([0.05, 0.7, 20]);
    const labels = os.tensor([[1, 0, 0], [0, 0, 1], [0, 0, 0]]); // the last row is the null class
    const r = os.randn([B, 1, 8, 8], { seed: 2 });
    writeFileSync(join(dir, 'inputs.safetensors'), await os.io.saveSafetensors({ x, sigma, labels, r }));
    py('grad', join(dir, 'model.safetensors'), join(dir, 'inputs.safetensors'), join(dir, 'torch-grad.safetensors'));
    const torch = (await os.io.loadSafetensors(new Uint8Array(readFileSync(join(dir, 'torch-grad.safetensors'))))).tensors;
    const d = den.forward(x, sigma, labels);
    os.sum(os.mul(d, r)).backward();
    expectClose(await d.data(), await torch.d.data(), { atol: 1e-4, rtol: 1e-4, label: 'D(x; σ, y)' });
    expectClose(await x.grad!.data(), await torch['grad.x'].data(), { atol: 1e-4, rtol: 1e-3, label: '∂/∂x' });
    const named = Object.entries(den.stateDict());
    expect(named.length).toBe(Object.keys(torch).length - 2); // every torch parameter has its counterpart here
    for (const [k, p] of named) {
      const g = torch[`grad.${k}`];
      expect(g, `torch has no parameter ${k}`).toBeDefined();
      expectClose(await p.grad!.data(), await g.data(), { atol: 1e-4, rtol: 1e-3, label: `∂/∂${k}` });
    }
  });

  it("f16 tensors hold the bits of torch's .half(), in both cast kernel forms, and PyTorch reads the F16 file", async () => {
    if (!hasTorch) return;
    const dir = mkdtempSync(join(tmpdir(), 'onestep-half-'));
    // specials, subnormals, ties, overflow, and 4,099 values over f16's range and past it
    const specials = [0, -0, 65504, 65519, 65520, -1e6, Infinity, -Infinity, NaN, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-9, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051];
    const x = os.tensor(Float32Array.from([...specials, ...Array.from({ length: 4099 }, (_, i) => Math.sin(i * 12.9898) * 2 ** ((i % 48) - 28))]));
    const state: Record<string, os.Tensor> = { packed_f32: x, packed_f16: os.cast(x, 'f16', { nativeF16: false }) };
    if (hasShaderF16(os.device())) Object.assign(state, { native_f32: x, native_f16: os.cast(x, 'f16', { nativeF16: true }) });
    writeFileSync(join(dir, 'half.safetensors'), await os.io.saveSafetensors(state));
    py('half', join(dir, 'half.safetensors'));
    for (const t of new Set(Object.values(state))) t.dispose();
  });
});
