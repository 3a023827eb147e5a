// models/data/toy2d.ts: 2-D toy distributions, each scaled so the per-dimension std is about σ_data = 0.5
// (DMD-SPEC §9 step 1), with their true samplers and, for mixtures, the modes used by the metrics.
import { ValueError } from '../../engine/errors';
import { HostRng } from './rng';

export const TOY2D_NAMES = ['8gaussians', '25gaussians', 'moons', 'swissroll', 'checkerboard', 'rings'] as const;
export type Toy2dName = (typeof TOY2D_NAMES)[number];

export interface Toy2d {
  name: Toy2dName;
  /** n samples as a flat [n, 2] Float32Array. */
  sample(n: number, rng: HostRng): Float32Array;
  /** Mixture sets only: mode centres and the per-mode std (for mode coverage metrics). */
  modes?: { centers: [number, number][]; std: number };
}

type RawSampler = (rng: HostRng) => [number, number];

const ring8: [number, number][] = Array.from({ length: 8 }, (_, k) => [0.7 * Math.cos((k * Math.PI) / 4), 0.7 * Math.sin((k * Math.PI) / 4)]);
// 5×5 grid, spacing s: per-dim std of the grid is s·√2; s = 0.5/√2 puts it at 0.5
const GRID_S = 0.5 / Math.SQRT2;
const grid25: [number, number][] = [];
for (let i = -2; i <= 2; i++) for (let j = -2; j <= 2; j++) grid25.push([i * GRID_S, j * GRID_S]);

const RAW: Record<Toy2dName, RawSampler> = {
  '8gaussians': (r) => {
    const c = ring8[r.int(8)];
    return [c[0] + 0.035 * r.normal(), c[1] + 0.035 * r.normal()];
  },
  '25gaussians': (r) => {
    const c = grid25[r.int(25)];
    return [c[0] + 0.025 * r.normal(), c[1] + 0.025 * r.normal()];
  },
  moons: (r) => {
    const t = Math.PI * r.uniform();
    const [x, y] = r.uniform() < 0.5 ? [Math.cos(t), Math.sin(t)] : [1 - Math.cos(t), 0.5 - Math.sin(t)];
    return [x + 0.05 * r.normal() - 0.5, y + 0.05 * r.normal() - 0.25];
  },
  swissroll: (r) => {
    const t = 1.5 * Math.PI * (1 + 2 * r.uniform());
    return [t * Math.cos(t) + 0.3 * r.normal(), t * Math.sin(t) + 0.3 * r.normal()];
  },
  checkerboard: (r) => {
    // 4×4 board on [−2, 2]², half the squares filled
    for (;;) {
      const x = 4 * r.uniform() - 2, y = 4 * r.uniform() - 2;
      if ((Math.floor(x + 2) + Math.floor(y + 2)) % 2 === 0) return [x, y];
    }
  },
  rings: (r) => {
    const radius = [0.25, 0.5, 0.75, 1][r.int(4)];
    const a = 2 * Math.PI * r.uniform();
    return [radius * Math.cos(a) + 0.02 * r.normal(), radius * Math.sin(a) + 0.02 * r.normal()];
  },
};

/** Per-set affine normalisation to per-dim std 0.5, measured once from a fixed-seed sample (deterministic). */
const SCALE = new Map<Toy2dName, [number, number, number, number]>();
function scaleFor(name: Toy2dName): [number, number, number, number] {
  let s = SCALE.get(name);
  if (s) return s;
  if (name === '8gaussians' || name === '25gaussians') s = [0, 0, 1, 1]; // built at std 0.5 already
  else {
    const r = new HostRng(12345);
    const n = 100_000;
    let mx = 0, my = 0, sx = 0, sy = 0;
    const pts = Array.from({ length: n }, () => RAW[name](r));
    for (const [x, y] of pts) (mx += x), (my += y);
    mx /= n;
    my /= n;
    for (const [x, y] of pts) (sx += (x - mx) ** 2), (sy += (y - my) ** 2);
    const std = Math.sqrt((sx + sy) / (2 * n)); // one isotropic scale keeps shapes undistorted
    s = [mx, my, 0.5 / std, 0.5 / std];
  }
  SCALE.set(name, s);
  return s;
}

export function toy2d(name: string): Toy2d {
  if (!(TOY2D_NAMES as readonly string[]).includes(name)) throw new ValueError(`toy2d: unknown data set "${name}"; choose one of ${TOY2D_NAMES.join(', ')}`);
  const n2 = name as Toy2dName;
  const modes = n2 === '8gaussians' ? { centers: ring8, std: 0.035 } : n2 === '25gaussians' ? { centers: grid25, std: 0.025 } : undefined;
  return {
    name: n2,
    modes,
    sample(n: number, rng: HostRng): Float32Array {
      const [mx, my, kx, ky] = scaleFor(n2);
      const out = new Float32Array(2 * n);
      for (let i = 0; i < n; i++) {
        const [x, y] = RAW[n2](rng);
        out[2 * i] = (x - mx) * kx;
        out[2 * i + 1] = (y - my) * ky;
      }
      return out;
    },
  };
}
