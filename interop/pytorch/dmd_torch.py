"""interop/pytorch/dmd_torch.py: DMD (Yin et al., CVPR 2024) and DMD2 (NeurIPS 2024) in PyTorch, the same trainer as
models/dmd.ts (DMD-SPEC §2, §9) with the same config names and defaults, running on one device or under
torch.distributed (DistributedDataParallel), and reading/writing the TypeScript trainer's checkpoints.

Three denoisers of one architecture, all initialised from the teacher: the frozen real score μ_real, the fake score
μ_fake (trained online on the generator's samples) and the generator G(z, y) = D_G(σ_g·z; σ_g, y).

Distributed: every rank draws the randomness of the whole global batch from the same seeded generators and keeps its
own slice, so N ranks compute what one rank computes with the same global batch (up to float summation order): the
per-rank losses are means over equal slices, DDP averages the gradients, and the clipping sees the averaged gradient.
"""
import base64
import hashlib
import json
import math

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from onestep_data import HostRng
from onestep_torch import GanHead, f_space_loss, karras_grid

# The TypeScript DMD_DEFAULTS (models/dmd.ts) but `compiled` (how onestep executes a step; PyTorch runs op by op).
# test/interop-distill.test.ts compares names and values with the TypeScript ones, so a change on either side fails a
# test instead of drifting.
_COMMON = dict(batch=256, lr=1e-4, fakeLr=1e-4, weightDecay=0.01, betas=[0.9, 0.999], cfg=1, gradClip=10,
               generatorSigma=80, minStep=20, maxStep=980, emaDecay=0, realOnly=False, ganWeight=0, ganDWeight=1e-2,
               ganMaxStep=999, regBatch=0, seed=0, warmup=0, lrDecay=0)
DMD_DEFAULTS = {
    "dmd": dict(mode="dmd", ttur=1, regWeight=0.25, **_COMMON),   # regression loss, 1 fake update per G update
    "dmd2": dict(mode="dmd2", ttur=5, regWeight=0, **_COMMON),    # no regression, TTUR 5
}

# The recipes of models/recipe.ts: what `onestep distill` (and this script) use over DMD_DEFAULTS when flags do not say
# otherwise. Compared with the TypeScript ones by test/interop-distill.test.ts.
TOY_RECIPE = dict(mode="dmd", batch=256, lr=3e-3, fakeLr=5e-3, warmup=100, lrDecay=4000, regWeight=10, regBatch=128, ganWeight=0.3,
                  ganDWeight=1, ganMaxStep=100, emaDecay=0.98)
# 25gaussians: lr 1e-3, a lighter GAN head (weight 0.1, levels <= 20: at 0.3 it drops modes) (models/recipe.ts GRID_RECIPE)
GRID_RECIPE = {**TOY_RECIPE, "lr": 1e-3, "fakeLr": 1e-3, "ganWeight": 0.1, "ganMaxStep": 20, "lrDecay": 0, "emaDecay": 0.99,
               "regBatch": 0}
MNIST_RECIPE = dict(mode="dmd2", batch=32, ganWeight=3e-3, emaDecay=0.99)
TOY_PAIRS = 5000


def recipe_for(data, mode=None):
    """The recipe for a data set; for `mode` when given (the other method keeps batch, rates and EMA, with its paper's
    TTUR and regression)."""
    mnist = data.startswith("mnist")
    base = MNIST_RECIPE if mnist else GRID_RECIPE if data == "25gaussians" else TOY_RECIPE
    if mode is None or mode == base["mode"]:
        return dict(base)
    if mode == "dmd2":
        return {**base, "mode": mode, "ttur": 5, "regWeight": 0}
    return {**base, "mode": mode, "ttur": 1, "regWeight": 0 if mnist else 0.25}


def _slice_info():
    """(rank, world size) of this process; (0, 1) without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def softplus(x):
    return F.softplus(x)  # log(1 + eˣ), overflow-free; d/dx = sigmoid(x)


class Guidance(nn.Module):
    """What the fake-score update trains: the fake score and (DMD2 + GAN) the head on its bottleneck. One module so that
    DistributedDataParallel averages the gradients of both in one all-reduce. State-dict keys: fake.*, head.*"""

    def __init__(self, fake, head):
        super().__init__()
        self.fake, self.head = fake, head

    def discriminate(self, x, labels, sigma, noise):
        """GAN logits [B]: the head on the fake score's bottleneck at x + σ·ε."""
        return self.head(self.fake.bottleneck(x + noise * _like(sigma, x), sigma, labels))

    def forward(self, x0, labels, sigma, noise, gan=None):
        """The fake-score update's losses on detached generator samples x0:
           loss_fake = mean ‖F_fake(c_in·x_t) − (x0 − c_skip·x_t)/c_out‖²  (x_t = x0 + σ·ε; == EDM-weighted x0 loss)
           loss_D    = mean softplus(D(fake)) + mean softplus(−D(real))   (both noised, σ from the full Karras grid)"""
        loss_fake = f_space_loss(self.fake, x0, sigma, labels, noise)
        if gan is None:
            return loss_fake, None
        d_fake = self.discriminate(x0, labels, gan["sigma_fake"], gan["noise_fake"])
        d_real = self.discriminate(gan["real"], gan["real_labels"], gan["sigma_real"], gan["noise_real"])
        return loss_fake, softplus(d_fake).mean() + softplus(-d_real).mean()


def _like(sigma, x):
    return sigma.reshape(-1, *([1] * (x.dim() - 1)))


class frozen:
    """`with frozen(module):` — no parameter of module requires grad inside (gradients still flow *through* it)."""

    def __init__(self, module):
        self.params = [p for p in module.parameters() if p.requires_grad]

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)


def _seed_from(*parts):
    """A 63-bit seed from any JSON-able parts (deterministic across processes and machines)."""
    return int.from_bytes(hashlib.sha256(json.dumps(parts).encode()).digest()[:8], "little") >> 1


class DMDTrainer:
    """models/dmd.ts DMDTrainer. `teacher`: the real score (an EDMDenoiser, frozen here); `make_denoiser()` builds an
    untrained copy of its architecture; `sample_shape`: one sample's shape ([2] or [C, H, W]); `pairs`: DMD's regression
    set {z, y}; `real_data(n, host_rng) -> (x, labels or None)`: real batches for the GAN head."""

    def __init__(self, teacher, make_denoiser, sample_shape, config=None, device="cpu", pairs=None, real_data=None):
        mode = (config or {}).get("mode", "dmd2")
        if mode not in DMD_DEFAULTS:
            raise ValueError(f'DMDTrainer: mode must be dmd or dmd2, got "{mode}"')
        c = self.cfg = {**DMD_DEFAULTS[mode], **(config or {})}
        unknown = sorted(set(c) - set(DMD_DEFAULTS[mode]))
        if unknown:
            raise ValueError(f"DMDTrainer: unknown config keys {unknown}; the keys are {sorted(DMD_DEFAULTS[mode])}")
        if not (isinstance(c["ttur"], int) and c["ttur"] >= 1):
            raise ValueError(f"DMDTrainer: ttur must be a positive integer, got {c['ttur']}")
        if c["regWeight"] > 0 and pairs is None:
            raise ValueError(f"DMDTrainer: regWeight {c['regWeight']} needs regression pairs (onestep make-pairs or "
                             f"--pairs); pass pairs or set regWeight 0")
        if not (c["ganWeight"] >= 0 and c["ganDWeight"] >= 0):
            raise ValueError(f"DMDTrainer: ganWeight and ganDWeight must be ≥ 0, got {c['ganWeight']}, {c['ganDWeight']}")
        if c["ganWeight"] > 0 and real_data is None:
            raise ValueError(f"DMDTrainer: ganWeight {c['ganWeight']} needs a stream of real data for the GAN head")
        if c["ganWeight"] > 0 and c["realOnly"]:
            raise ValueError("DMDTrainer: the GAN head lives on the fake score, which the realOnly ablation removes; "
                             "use one or the other")
        if not (0 <= c["minStep"] <= c["maxStep"] <= 999):
            raise ValueError(f"DMDTrainer: need 0 ≤ minStep ≤ maxStep ≤ 999, got {c['minStep']}, {c['maxStep']}")
        if not (isinstance(c["warmup"], int) and c["warmup"] >= 0):
            raise ValueError(f"DMDTrainer: warmup must be a non-negative integer (updates), got {c['warmup']}")
        if not (isinstance(c["lrDecay"], int) and c["lrDecay"] >= 0):
            raise ValueError(f"DMDTrainer: lrDecay must be a non-negative integer (updates), got {c['lrDecay']}")
        if 0 < c["lrDecay"] <= c["warmup"]:
            raise ValueError(f"DMDTrainer: lrDecay ({c['lrDecay']}) must end after the warm-up ({c['warmup']} updates); 0 turns it off")
        self.rank, self.world = _slice_info()
        if c["batch"] % self.world:
            raise ValueError(f"DMDTrainer: the global batch {c['batch']} does not split over {self.world} ranks; pick a "
                             f"batch divisible by {self.world} (e.g. {c['batch'] // self.world * self.world or self.world})")
        self.device = torch.device(device)
        self.sample_shape = list(sample_shape)
        self.real = teacher.to(self.device).eval().requires_grad_(False)
        self.generator = make_denoiser().to(self.device)
        fake = make_denoiser().to(self.device)
        self.generator.load_state_dict(teacher.state_dict())
        fake.load_state_dict(teacher.state_dict())
        head = GanHead(fake.net.bottleneck_shape).to(self.device) if c["ganWeight"] > 0 else None
        self.guidance = Guidance(fake, head)
        self.fake, self.head = fake, head
        adamw = lambda params, lr: torch.optim.AdamW(params, lr=lr, betas=tuple(c["betas"]), eps=1e-8,
                                                     weight_decay=c["weightDecay"])
        self.optG = adamw(self.generator.parameters(), c["lr"])
        self.optF = adamw(fake.parameters(), c["fakeLr"])
        self.optH = adamw(head.parameters(), c["fakeLr"]) if head is not None else None
        # step() calls per optimiser (the TypeScript Optimizer.steps; counts the warm-up)
        self.steps = {"optG": 0, "optF": 0, "optH": 0}
        self.ema = [p.detach().clone() for p in self.generator.parameters()] if c["emaDecay"] > 0 else None
        self.ema_updates = 0
        self.pairs = None if pairs is None else {k: v.to(self.device) for k, v in pairs.items()}
        self.real_data = real_data
        self.grid = karras_grid().float().to(self.device)  # float64 levels rounded to f32, as the TS Float32Array
        self.host_rng = HostRng(c["seed"])
        self.gen = torch.Generator(self.device).manual_seed(c["seed"])
        self.iteration = 0
        if self.world > 1:
            # DDP broadcasts rank 0's weights at construction: every rank starts identical
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G = DDP(self.generator, device_ids=ids)
            self.D = DDP(self.guidance, device_ids=ids)
        else:
            self.G, self.D = self.generator, self.guidance

    # ---- randomness: the global batch's draws on every rank, each rank keeps its slice ------------------------------

    @property
    def local(self):
        b = self.cfg["batch"] // self.world
        return slice(self.rank * b, (self.rank + 1) * b)

    def randn(self, *shape):
        return torch.randn(shape, generator=self.gen, device=self.device)

    def sigmas(self, lo, hi, n=None):
        """σ per sample: Karras grid levels drawn uniformly from [lo, hi]."""
        return self.grid[torch.randint(lo, hi + 1, (n or self.cfg["batch"],), generator=self.gen, device=self.device)]

    def random_labels(self):
        k = self.generator.labelDim
        if k == 0:
            return None
        idx = torch.randint(k, (self.cfg["batch"],), generator=self.gen, device=self.device)
        return F.one_hot(idx, k).float()

    @staticmethod
    def _part(t, s):
        return None if t is None else t[s]

    # ---- the losses (models/dmd.ts dmLoss, fSpaceLoss, ganGeneratorLoss, regression) --------------------------------

    def generate(self, z, labels=None, net=None):
        """G(z, y) = D_G(σ_g·z; σ_g, y)."""
        s = self.cfg["generatorSigma"]
        return (net or self.generator)(z * s, torch.full((z.shape[0],), float(s), device=z.device), labels)

    def dm_loss(self, x, labels, sigma, noise):
        """DMD2's compute_distribution_matching_loss. No gradient from here …
             x_t  = x + σ·ε ;  μ_real = D_real(x_t; σ, y) (CFG w on the real score only) ;  μ_fake = D_fake(x_t; σ, y)
             w    = mean_chw |x − μ_real|  (per sample)
             grad = (μ_fake − μ_real) / w   (non-finite → 0, as onestep's nanToNum)
           … to here:  loss = 0.5·mean((x − sg(x − grad))²), so ∂loss/∂x = grad / numel and descent moves x toward
           μ_real and away from μ_fake. Returns (loss, Σ grad² of this rank's slice) — ‖grad‖ is over the global batch."""
        c = self.cfg
        with torch.no_grad():
            xd = x.detach()
            x_t = xd + noise * _like(sigma, xd)
            mu_real = self.real.guided(x_t, sigma, labels, c["cfg"])
            mu_fake = x_t if c["realOnly"] else self.fake(x_t, sigma, labels)  # realOnly: DMD Fig. 3a ablation
            w = (xd - mu_real).abs().mean(dim=list(range(1, xd.dim())), keepdim=True)
            grad = (mu_fake - mu_real) / w
            grad = torch.where(torch.isfinite(grad), grad, torch.zeros_like(grad))
        return 0.5 * F.mse_loss(x, (xd - grad).detach()), grad.square().sum()

    # ---- one iteration ------------------------------------------------------------------------------------------------

    def _lr(self, base, k):
        """Warm-up: the k-th update (k = 1, 2, …, per optimiser) uses lr·min(1, k/warmup) (warmup 0 = off); then, with
        lrDecay > 0, a half cosine from 1 down to 0.1 at update `lrDecay` (models/dmd.ts: os.optim.cosine, minFactor 0.1)."""
        w, d, s = self.cfg["warmup"], self.cfg["lrDecay"], k - 1
        if s < w:
            return base * (s + 1) / w
        if d <= 0:
            return base
        t = min(1.0, max(0.0, (s - w) / (d - w)))
        return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    def _step(self, name, opt, base_lr):
        self.steps[name] += 1
        for g in opt.param_groups:
            g["lr"] = self._lr(base_lr, self.steps[name])
        opt.step()
        opt.zero_grad(set_to_none=True)

    def generator_loss(self, x, labels, sigma, noise, reg=None, gan=None):
        """L_G = L_DM(x) + λ_reg·‖G(z_ref) − y_ref‖² + w_GAN·mean softplus(−D(x)) for x = G(z) (with its graph).
        reg = (G(z_ref), y_ref) in DMD mode; gan = (σ, ε) of the head's noising with DMD2's GAN head. The GAN term
        backprops *through* the fake score and the head into x; the caller keeps them frozen (DMD-SPEC §8.4)."""
        c = self.cfg
        loss_dm, grad_sq = self.dm_loss(x, labels, sigma, noise)
        total, out = loss_dm, {"dm": loss_dm.detach(), "gradNormSq": grad_sq}
        if reg is not None:
            loss_reg = F.mse_loss(*reg)
            total = total + c["regWeight"] * loss_reg
            out["reg"] = loss_reg.detach()
        if gan is not None:
            loss_gan = softplus(-self.guidance.discriminate(x, labels, *gan)).mean()
            total = total + c["ganWeight"] * loss_gan
            out["ganG"] = loss_gan.detach()
        return total, out

    def guidance_loss(self, x0, labels, sigma, noise, gan=None, net=None):
        """The fake-score update's loss: L_fake + w_D·L_D (through the DDP wrapper when there is one)."""
        loss_fake, loss_d = (net or self.D)(x0, labels, sigma, noise, gan)
        out = {"fake": loss_fake.detach()}
        if loss_d is None:
            return loss_fake, out
        out["ganD"] = loss_d.detach()
        return loss_fake + self.cfg["ganDWeight"] * loss_d, out

    def step(self):
        """One iteration: a generator update every `ttur`-th iteration, a fake-score update every iteration. Returns this
        rank's losses as 0-d tensors: dm, gradNormSq (Σ grad² of the slice), reg, ganG on generator steps; fake, ganD."""
        c, s = self.cfg, self.local
        gen_step = self.iteration % c["ttur"] == 0
        self.iteration += 1
        z = self.randn(c["batch"], *self.sample_shape)[s]
        labels = self._part(self.random_labels(), s)
        out = {}
        if gen_step:
            reg = None
            if c["regWeight"] > 0:
                zs, ys = self.regression_batch()
                x, g_ref = self.generate_with_pairs(z, labels, zs)
                reg = (g_ref, ys)
            else:
                x = self.generate(z, labels, self.G)
            sigma = self.sigmas(c["minStep"], c["maxStep"])[s]
            noise = self.randn(c["batch"], *self.sample_shape)[s]
            gan = (self.sigmas(0, c["ganMaxStep"])[s], self.randn(c["batch"], *self.sample_shape)[s]) if self.head is not None else None
            with frozen(self.guidance):  # the fake score and the head used directly, outside their DDP wrapper
                total, out = self.generator_loss(x, labels, sigma, noise, reg, gan)
                total.backward()
            stale = [n for n, p in self.guidance.named_parameters() if p.grad is not None]
            if stale:
                raise RuntimeError(f"DMDTrainer: the generator's loss left gradients on {stale[:3]}; they must stay frozen")
            torch.nn.utils.clip_grad_norm_(self.generator.parameters(), c["gradClip"])  # after DDP's all-reduce
            self._step("optG", self.optG, c["lr"])
            self._ema_update()
        else:
            with torch.no_grad():
                x = self.generate(z, labels)
        # the fake score learns the generator's current distribution from this iteration's (pre-update) samples
        x0 = x.detach()
        sigma = self.sigmas(0, 999)[s]
        noise = self.randn(c["batch"], *self.sample_shape)[s]
        gan = None
        if self.head is not None:
            real, real_labels = self.real_data(c["batch"], self.host_rng)
            gan = {"real": real.to(self.device)[s],
                   "real_labels": None if real_labels is None or labels is None else real_labels.to(self.device)[s],
                   "sigma_fake": self.sigmas(0, c["ganMaxStep"])[s], "noise_fake": self.randn(c["batch"], *self.sample_shape)[s],
                   "sigma_real": self.sigmas(0, c["ganMaxStep"])[s], "noise_real": self.randn(c["batch"], *self.sample_shape)[s]}
        total, f = self.guidance_loss(x0, labels, sigma, noise, gan)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.guidance.parameters(), c["gradClip"])  # fake + head, one global norm
        self._step("optF", self.optF, c["fakeLr"])
        if self.optH is not None:
            self._step("optH", self.optH, c["fakeLr"])
        out.update(f)
        return out

    def generate_with_pairs(self, z, labels, zs):
        """(G(z, y), G(z_ref)) in one pass of the (DDP) generator: DDP wants one forward per backward. The regression
        pairs are unconditional (the null class, as onestep's generate(z_ref) without labels)."""
        zl = None if labels is None else torch.cat([labels, labels.new_zeros(zs.shape[0], labels.shape[1])])
        both = self.generate(torch.cat([z, zs]), zl, self.G)
        return both[:z.shape[0]], both[z.shape[0]:]

    def regression_batch(self):
        """This rank's slice of a random contiguous window of the regression pairs (min(regBatch or batch, P) of them)."""
        p = self.pairs["z"].shape[0]
        r = min(self.cfg["regBatch"] or self.cfg["batch"], p)
        if r % self.world:
            raise ValueError(f"DMDTrainer: {p} regression pairs give a batch of {r}, which does not split over "
                             f"{self.world} ranks; make a multiple of {self.world} pairs (onestep make-pairs --n)")
        start = int(torch.randint(p - r + 1, (1,), generator=self.gen, device=self.device))
        b = r // self.world
        rs = slice(start + self.rank * b, start + (self.rank + 1) * b)
        return self.pairs["z"][rs], self.pairs["y"][rs]

    @torch.no_grad()
    def _ema_update(self):
        """EMA of the generator with warm-up: decay min(β, (1+t)/(10+t)), t = generator updates so far."""
        if self.ema is None:
            return
        t = self.steps["optG"]
        d = min(self.cfg["emaDecay"], (1 + t) / (10 + t))
        for e, p in zip(self.ema, self.generator.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1 - d)
        self.ema_updates += 1

    def shipped_state(self):
        """The generator weights to sample from and ship: the EMA's when there is one."""
        sd = self.generator.state_dict()
        if self.ema is None:
            return sd
        names = [n for n, _ in self.generator.named_parameters()]
        return {**sd, **dict(zip(names, (e.clone() for e in self.ema)))}

    # ---- checkpoints in the TypeScript trainer's format (models/dmd.ts state()/restore()) ----------------------------

    def _opt_state(self, name, opt, params, tensors):
        pstates = []
        for i, p in enumerate(params):
            st = opt.state.get(p, {})
            tensors[f"{name}.exp_avg.{i}"] = st.get("exp_avg", torch.zeros_like(p))
            tensors[f"{name}.exp_avg_sq.{i}"] = st.get("exp_avg_sq", torch.zeros_like(p))
            pstates.append(int(st["step"]) if st else 0)
        return json.dumps({"step": self.steps[name], "lr": opt.param_groups[0]["lr"], "paramSteps": pstates})

    def state(self):
        """(tensors, metadata) of a checkpoint that `onestep distill --resume` reads: generator.*, fake.*, head.*,
        opt{G,F,H}.{exp_avg,exp_avg_sq}.{i} (i in parameter order), ema.shadow.{i}, and metadata iteration, config,
        optG/optF/optH/ema ({step, lr, paramSteps} / {updates, decay}), gpuRng, hostRng. The PyTorch side adds its own
        generator state (torchRng) so that a PyTorch resume continues its exact stream."""
        t = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        t.update({f"fake.{k}": v for k, v in self.fake.state_dict().items()})
        meta = {"iteration": str(self.iteration), "config": json.dumps(self.cfg),
                "optG": self._opt_state("optG", self.optG, list(self.generator.parameters()), t),
                "optF": self._opt_state("optF", self.optF, list(self.fake.parameters()), t),
                "optH": "", "ema": ""}
        if self.head is not None:
            t.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
            meta["optH"] = self._opt_state("optH", self.optH, list(self.head.parameters()), t)
        if self.ema is not None:
            t.update({f"ema.shadow.{i}": e for i, e in enumerate(self.ema)})
            meta["ema"] = json.dumps({"updates": self.ema_updates, "decay": self.cfg["emaDecay"]})
        # onestep's Philox stream cannot be continued from here: a TS resume gets a fresh key derived from the seed and
        # the iteration (deterministic: the same checkpoint always resumes the same way); the host stream is exact
        meta["gpuRng"] = json.dumps({"seed": _seed_from("ts", self.cfg["seed"], self.iteration) % 2 ** 32, "stream": 0})
        meta["hostRng"] = json.dumps(self.host_rng.get_state())
        meta["torchRng"] = base64.b64encode(self.gen.get_state().cpu().numpy().tobytes()).decode()
        meta["torchRngDevice"] = self.device.type
        return {k: v.detach().float().cpu() for k, v in t.items()}, meta

    def _restore_opt(self, name, opt, params, tensors, meta_json):
        m = json.loads(meta_json)
        steps = m.get("paramSteps") or [m["step"]] * len(params)
        if len(steps) != len(params):
            raise ValueError(f"restore: {name} has {len(steps)} parameter steps but the model has {len(params)} parameters")
        opt.state.clear()
        for i, p in enumerate(params):
            for slot in ("exp_avg", "exp_avg_sq"):
                v = tensors.get(f"{name}.{slot}.{i}")
                if v is None or v.shape != p.shape:
                    raise ValueError(f"restore: {name}.{slot}.{i} is {None if v is None else list(v.shape)} but parameter "
                                     f"{i} is {list(p.shape)}; the checkpoint was written for another architecture")
            if steps[i] > 0:  # 0: never updated, its moments are zeros (torch creates them on the first step)
                opt.state[p] = {"step": torch.tensor(float(steps[i])),
                                "exp_avg": tensors[f"{name}.exp_avg.{i}"].to(self.device).clone(),
                                "exp_avg_sq": tensors[f"{name}.exp_avg_sq.{i}"].to(self.device).clone()}
        self.steps[name] = int(m["step"])
        for g in opt.param_groups:
            g["lr"] = float(m["lr"])

    def restore(self, tensors, meta):
        """Loads a checkpoint from state() or from onestep's DMDTrainer.state(), on every rank (they stay identical)."""
        def load(module, prefix):
            try:
                module.load_state_dict({k[len(prefix):]: v.to(self.device) for k, v in tensors.items()
                                        if k.startswith(prefix)}, strict=True)
            except RuntimeError as e:
                raise ValueError(f"restore: the checkpoint's {prefix}* tensors do not fit this teacher's architecture; "
                                 f"was it written for another teacher? ({str(e).splitlines()[0]} …)") from None
        load(self.generator, "generator.")
        load(self.fake, "fake.")
        if self.head is not None:
            if not meta.get("optH"):
                raise ValueError("restore: this run has a GAN head (ganWeight > 0) but the checkpoint has none "
                                 "(it was written with ganWeight 0)")
            load(self.head, "head.")
            self._restore_opt("optH", self.optH, list(self.head.parameters()), tensors, meta["optH"])
        elif meta.get("optH"):
            raise ValueError("restore: the checkpoint has a GAN head but this run has none; pass its --gan-weight")
        self._restore_opt("optG", self.optG, list(self.generator.parameters()), tensors, meta["optG"])
        self._restore_opt("optF", self.optF, list(self.fake.parameters()), tensors, meta["optF"])
        if self.ema is not None:
            if meta.get("ema"):
                e = json.loads(meta["ema"])
                shadow = [tensors.get(f"ema.shadow.{i}") for i in range(len(self.ema))]
                if any(s is None for s in shadow):
                    raise ValueError("restore: the checkpoint's EMA has fewer shadow tensors than the generator has parameters")
                self.ema = [s.to(self.device).clone() for s in shadow]
                self.ema_updates = int(e["updates"])
            else:  # the run that wrote it had no EMA: start one from the restored generator weights
                self.ema = [p.detach().clone() for p in self.generator.parameters()]
        self.host_rng.set_state(json.loads(meta["hostRng"]))
        self.iteration = int(meta["iteration"])
        if meta.get("torchRng") and meta.get("torchRngDevice") == self.device.type:
            state = torch.frombuffer(bytearray(base64.b64decode(meta["torchRng"])), dtype=torch.uint8)
            self.gen.set_state(state.clone())
            return "exact"
        # written by onestep (Philox on the GPU) or on another device type: a fresh stream derived from its RNG state
        self.gen.manual_seed(_seed_from("torch", meta.get("gpuRng", ""), meta.get("torchRng", ""), self.iteration))
        return "reseeded"
