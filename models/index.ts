// models/index.ts: `onestep/models` — data sets now; the UNet, EDM denoiser, samplers and DMD arrive with their issues.
export { toy2d, TOY2D_NAMES, type Toy2d, type Toy2dName } from './data/toy2d';
export { HostRng } from './data/rng';
