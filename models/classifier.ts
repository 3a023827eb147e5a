// models/classifier.ts: MNISTClassifier, the small CNN whose penultimate features define the image metrics
// (FD, precision/recall) and whose softmax gives the class histogram (DMD-SPEC §7.3, §9 step 5):
// [conv3×3 → GN → SiLU] ×2 → avgPool2 → conv3×3 → GN → SiLU → avgPool2 → Linear → SiLU (features) → Linear (logits).
// The convolutions have no bias: the GroupNorm after each one would cancel it.
import * as os from '../engine';
import type { Tensor } from '../engine';
import { FormatError, ShapeError } from '../engine/errors';
import { MNIST_CLASSES } from './data/mnist';

export interface ClassifierConfig {
  size: number; // input height = width (16, 28 or 32; a multiple of 4)
  channels: [number, number]; // conv widths of the two stages (32, 64)
  features: number; // width of the penultimate layer, the metric feature space (128)
  groups: number; // GroupNorm groups (8)
  classes: number; // 10
}

export const CLASSIFIER_DEFAULTS: ClassifierConfig = { size: 16, channels: [32, 64], features: 128, groups: 8, classes: MNIST_CLASSES };

class ConvGN extends os.nn.Module {
  readonly conv: os.nn.Conv2d;
  readonly norm: os.nn.GroupNorm;
  constructor(cin: number, cout: number, groups: number) {
    super();
    this.conv = new os.nn.Conv2d(cin, cout, 3, { padding: 1, bias: false });
    this.norm = new os.nn.GroupNorm(groups, cout);
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x), { silu: true });
  }
}

export class MNISTClassifier extends os.nn.Module {
  readonly config: ClassifierConfig;
  readonly blocks: ConvGN[];
  readonly fc: os.nn.Linear;
  readonly head: os.nn.Linear;

  constructor(config: Partial<ClassifierConfig> = {}) {
    super();
    const c = (this.config = { ...CLASSIFIER_DEFAULTS, ...config });
    if (c.size % 4 !== 0) throw new ShapeError(`MNISTClassifier: size ${c.size} must be a multiple of 4 (two 2× poolings)`);
    const [c1, c2] = c.channels;
    this.blocks = [new ConvGN(1, c1, c.groups), new ConvGN(c1, c1, c.groups), new ConvGN(c1, c2, c.groups)];
    this.fc = new os.nn.Linear(c2 * (c.size / 4) ** 2, c.features);
    this.head = new os.nn.Linear(c.features, c.classes);
  }

  /** Penultimate features [N, features] of images [N, 1, S, S] in [−1, 1]. */
  features(x: Tensor): Tensor {
    const S = this.config.size;
    if (x.ndim !== 4 || x.shape[1] !== 1 || x.shape[2] !== S || x.shape[3] !== S) throw new ShapeError(`MNISTClassifier: input ${JSON.stringify(x.shape)} must be [N, 1, ${S}, ${S}]`);
    return os.tidy(() => {
      let h = this.blocks[1].forward(this.blocks[0].forward(x));
      h = os.avgPool2d(h, 2);
      h = this.blocks[2].forward(h);
      h = os.avgPool2d(h, 2);
      return os.silu(this.fc.forward(os.flatten(h, 1)));
    });
  }

  /** Logits [N, classes]. */
  forward(x: Tensor): Tensor {
    return os.tidy(() => this.head.forward(this.features(x)));
  }

  /** Features and logits in one pass. */
  featuresAndLogits(x: Tensor): { features: Tensor; logits: Tensor } {
    const features = this.features(x);
    return { features, logits: this.head.forward(features) };
  }
}

export interface ClassifierMeta {
  kind: 'classifier';
  config: ClassifierConfig;
  data: string; // e.g. 'mnist16'
  /** Accuracy on the held-out test split (2,000 digits). */
  testAccuracy?: number;
  recipe?: Record<string, unknown>;
}

const META_KEY = 'onestep';

export async function saveClassifier(model: MNISTClassifier, meta: ClassifierMeta): Promise<Uint8Array> {
  return os.io.saveSafetensorsChecked(model.stateDict(), { [META_KEY]: JSON.stringify(meta) });
}

/** Reads a classifier file (verifies its checksum when it has one), rebuilds the network, loads the weights strictly. */
export async function loadClassifier(bytes: Uint8Array): Promise<{ model: MNISTClassifier; meta: ClassifierMeta }> {
  const { metadata: head } = os.io.decodeSafetensors(bytes);
  const { tensors, metadata } = head.dataSha256 ? await os.io.loadSafetensorsChecked(bytes) : await os.io.loadSafetensors(bytes);
  try {
    let meta: ClassifierMeta;
    try {
      meta = JSON.parse(metadata[META_KEY] ?? 'null') as ClassifierMeta;
    } catch {
      throw new FormatError(`classifier: __metadata__.${META_KEY} is not valid JSON`);
    }
    if (!meta || meta.kind !== 'classifier') throw new FormatError(`classifier: this file holds ${meta ? `a "${meta.kind}"` : 'no onestep metadata'}, not a classifier (train one with onestep train-classifier)`);
    const model = new MNISTClassifier(meta.config);
    model.loadStateDict(tensors);
    return { model, meta };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

/** Features [N, features] and logits [N, classes] of host images [N, 1, S, S], in batches, on the host. */
export async function classify(model: MNISTClassifier, images: Float32Array, opts: { batch?: number } = {}): Promise<{ features: Float32Array; logits: Float32Array; n: number }> {
  const S = model.config.size, px = S * S, F = model.config.features, K = model.config.classes;
  if (images.length % px !== 0) throw new ShapeError(`classify: ${images.length} values are not a whole number of ${S}×${S} images`);
  const n = images.length / px, B = opts.batch ?? 500;
  const features = new Float32Array(n * F), logits = new Float32Array(n * K);
  for (let s = 0; s < n; s += B) {
    const b = Math.min(B, n - s);
    const [f, l] = os.noGrad(() =>
      os.tidy(() => {
        const r = model.featuresAndLogits(os.tensor(images.subarray(s * px, (s + b) * px), [b, 1, S, S]));
        return [r.features, r.logits];
      }),
    );
    features.set(await f.data(), s * F);
    logits.set(await l.data(), s * K);
    f.dispose();
    l.dispose();
  }
  return { features, logits, n };
}
