"""interop/pytorch/train_teacher.py: `onestep train-teacher` in PyTorch — an EDM teacher (Karras et al. 2022) on a 2-D toy
set or MNIST, with Adam and an EDM-style EMA, on one device or many under torchrun (DistributedDataParallel).

  torchrun --nproc_per_node=2 interop/pytorch/train_teacher.py --data 8gaussians --out runs/t --steps 12000
  python3 interop/pytorch/train_teacher.py --data mnist16 --out runs/m --steps 2000 --batch 64 --lr 5e-4 --ema 20000

Same flags, defaults, loss and run folder as `onestep train-teacher`: OUT/metrics.jsonl ({"step", "loss"} lines),
OUT/checkpoint.safetensors (the TypeScript format: model.*, opt.{exp_avg,exp_avg_sq}.{i}, ema.shadow.{i}; metadata
step, opt, ema, rng), OUT/teacher.safetensors (the EMA weights, onestep's model format). `--resume` continues either
side's checkpoint; the data stream of a resumed segment is re-seeded from the step, as onestep does.

The loss, per sample: σ = exp(P_mean + P_std·n), n ~ N(0, 1); x_t = y + σ·ε;
  L = ‖F(c_in·x_t; ln(σ)/4, y_drop) − (y − c_skip·x_t)/c_out‖²  (== λ(σ)·‖D(x_t; σ) − y‖², λ = 1/σ² + 1/σ_d²),
with the class label replaced by the null class with probability 0.1 for MNIST (classifier-free guidance).
EMA per step: β = 0.5^(batch / half-life), shadow ← β·shadow + (1 − β)·θ.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from distill import grid_png, setup, truncate_log  # noqa: E402
from onestep_data import HostRng, Mnist, mode_stats, sliced_wasserstein, toy2d  # noqa: E402
from onestep_torch import EDMDenoiser, MLPScoreNet, UNet, f_space_loss, heun_sample, load_safetensors, save_model, \
    save_safetensors, write_atomic  # noqa: E402

# models/mlp.ts MLP_DEFAULTS, models/unet.ts UNET_DEFAULTS and MNIST_UNET (compared with them by the tests)
MLP_DEFAULTS = dict(dim=2, hidden=128, depth=3, freqs=6, labelDim=0)
UNET_DEFAULTS = dict(resolution=16, inChannels=1, outChannels=1, labelDim=10, modelChannels=32, channelMult=[1, 2],
                     numBlocks=1, attnResolutions=[8], channelsPerHead=32, dropout=0, embMult=4)
MNIST_UNET = dict(modelChannels=16, channelMult=[1, 2], numBlocks=1, attnResolutions=[8], channelsPerHead=32, labelDim=10)
DEFAULTS = dict(steps=20000, batch=512, lr=1e-3, ema=500000, seed=0, pMean=-1.2, pStd=1.2)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="train_teacher.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="8gaussians, 25gaussians, moons, swissroll, checkerboard, rings, mnist16, mnist28, mnist32")
    p.add_argument("--out")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"], help="global batch, split over the ranks")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--ema", type=float, default=DEFAULTS["ema"], help="EMA half-life in samples; 0 = no EMA")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--net", help="network config overrides as JSON, e.g. '{\"hidden\":256}'")
    p.add_argument("--p-mean", dest="pMean", type=float, default=DEFAULTS["pMean"])
    p.add_argument("--p-std", dest="pStd", type=float, default=DEFAULTS["pStd"])
    p.add_argument("--resume", action="store_true")
    p.add_argument("--eager", action="store_true",
                   help="onestep's flag for running a step op by op instead of compiled; PyTorch always runs op by op")
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--mnist-dir")
    p.add_argument("--device", default="auto")
    p.add_argument("--print-defaults", action="store_true")
    return p.parse_args(argv)


def net_overrides(net_json, defaults, fixed, what):
    """--net: a JSON object of config fields (fixed ones excluded); a typo is an error, not a silently default net."""
    if not net_json:
        return {}
    try:
        v = json.loads(net_json)
    except json.JSONDecodeError:
        v = None
    if not isinstance(v, dict):
        raise SystemExit(f"train_teacher.py: --net must be a JSON object of {what} config fields, got {net_json}")
    allowed = [k for k in defaults if k not in fixed]
    bad = [k for k in v if k not in allowed]
    if bad:
        raise SystemExit(f"train_teacher.py: --net has {bad}, which {what} does not take here; its fields are {allowed}")
    return v


class ToyData:
    label_dropout = 0.0

    def __init__(self, name, net_json):
        self.data = toy2d(name)
        cfg = {**MLP_DEFAULTS, **net_overrides(net_json, MLP_DEFAULTS, ["dim", "labelDim"], "MLPScoreNet")}
        self.info = {"kind": "edm-denoiser", "net": "mlp", "netConfig": cfg, "sigmaData": 0.5, "data": name}

    def batch(self, n, rng):
        return self.data.sample(n, rng), None

    @torch.no_grad()
    def evaluate(self, den, final, out, step, device):
        """Heun-18 (35 NFE) samples vs fresh data: SWD, the data-vs-data floor, mode statistics."""
        z = torch.randn(4096, 2, generator=torch.Generator().manual_seed(1234)).to(device)
        xs = heun_sample(den, z, 18).float().cpu()
        ref, ref2 = self.data.sample(4096, HostRng(777)), self.data.sample(4096, HostRng(778))
        modes = mode_stats(xs, self.data.modes) if self.data.modes else None
        return {"nfe": 35, "swd": sliced_wasserstein(xs, ref), "floor": sliced_wasserstein(ref2, ref),
                "modes": modes and {"covered": modes["covered"], "hq": modes["hq"], "tv": modes["tv"],
                                    "mass": [round(v, 4) for v in modes["mass"]]}}


class MnistData:
    label_dropout = 0.1

    def __init__(self, name, net_json, mnist_dir):
        size = int(name[5:])
        self.train = Mnist(size, "train", mnist_dir)
        cfg = {**UNET_DEFAULTS, **MNIST_UNET,
               **net_overrides(net_json, UNET_DEFAULTS, ["resolution", "inChannels", "outChannels"], "UNet"),
               "resolution": size, "inChannels": 1, "outChannels": 1}
        self.info = {"kind": "edm-denoiser", "net": "unet", "netConfig": cfg, "sigmaData": 0.5, "data": name}

    def batch(self, n, rng):
        x, y = self.train.batch(n, rng)
        return x, F.one_hot(y, 10).float()

    @torch.no_grad()
    def evaluate(self, den, final, out, step, device):
        """Heun-18 on 10 digits per class (5 while training): the picture is the quick look, `onestep eval` the metrics."""
        n, k, s = (100 if final else 50), 10, self.train.size
        labels = F.one_hot(torch.arange(n) % k, k).float().to(device)
        z = torch.randn(n, 1, s, s, generator=torch.Generator().manual_seed(1234)).to(device)
        t0 = time.perf_counter()
        xs = heun_sample(den, z, 18, labels).float().cpu()
        f = os.path.join(out, f"samples-{step:06d}.png")
        write_atomic(f, grid_png(xs, cols=k))
        return {"nfe": 35, "grid": f, "seconds": round(time.perf_counter() - t0, 1), "mean": round(float(xs.mean()), 4)}


class EDMLoss(torch.nn.Module):
    """The teacher's loss as a module, so that DistributedDataParallel wraps the whole forward. State keys: den.*"""

    def __init__(self, den):
        super().__init__()
        self.den = den

    def forward(self, y, sigma, labels, noise):
        return f_space_loss(self.den, y, sigma, labels, noise)


def edm_draws(y, labels, label_dropout, p_mean, p_std, gen):
    """The global batch's draws (the same on every rank): ln σ ~ N(P_mean, P_std²), ε, and the label dropout."""
    n = y.shape[0]
    sigma = torch.exp(torch.randn(n, generator=gen, device=y.device) * p_std + p_mean)
    noise = torch.randn(y.shape, generator=gen, device=y.device)
    if labels is not None and label_dropout > 0:
        labels = labels * (torch.rand(n, generator=gen, device=y.device) > label_dropout)[:, None]
    return sigma, labels, noise


def save_checkpoint(path, step, den, opt, opt_steps, ema, ema_updates, seed):
    t = {f"model.{k}": v for k, v in den.state_dict().items()}
    params, psteps = list(den.parameters()), []
    for i, p in enumerate(params):
        st = opt.state.get(p, {})
        t[f"opt.exp_avg.{i}"] = st.get("exp_avg", torch.zeros_like(p))
        t[f"opt.exp_avg_sq.{i}"] = st.get("exp_avg_sq", torch.zeros_like(p))
        psteps.append(int(st["step"]) if st else 0)
    for i, e in enumerate(ema):
        t[f"ema.shadow.{i}"] = e
    meta = {"step": str(step), "opt": json.dumps({"step": opt_steps, "lr": opt.param_groups[0]["lr"], "paramSteps": psteps}),
            "ema": json.dumps({"updates": ema_updates, "decay": 0.999}),
            "rng": json.dumps({"seed": seed, "stream": 1_000_000 + step}), "writer": "interop/pytorch/train_teacher.py"}
    save_safetensors(path, {k: v.detach().float().cpu() for k, v in t.items()}, meta, checksum=True)


def restore(path, den, opt, ema, device):
    t, meta = load_safetensors(path, verify=True)
    den.load_state_dict({k[6:]: v.to(device) for k, v in t.items() if k.startswith("model.")}, strict=True)
    o = json.loads(meta["opt"])
    opt.state.clear()
    for i, p in enumerate(den.parameters()):
        if o["paramSteps"][i] > 0:
            opt.state[p] = {"step": torch.tensor(float(o["paramSteps"][i])), "exp_avg": t[f"opt.exp_avg.{i}"].to(device).clone(),
                            "exp_avg_sq": t[f"opt.exp_avg_sq.{i}"].to(device).clone()}
        ema[i].copy_(t[f"ema.shadow.{i}"])
    return int(meta["step"]), int(o["step"]), int(json.loads(meta["ema"])["updates"])


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.print_defaults:
        print(json.dumps({"defaults": DEFAULTS, "MLP_DEFAULTS": MLP_DEFAULTS, "UNET_DEFAULTS": UNET_DEFAULTS,
                          "MNIST_UNET": MNIST_UNET}))
        return 0
    if not a.data or not a.out:
        raise SystemExit("train_teacher.py: --data and --out are required (see --help)")
    device, rank, world = setup(a.device)
    if a.batch % world:
        raise SystemExit(f"train_teacher.py: the global batch {a.batch} does not split over {world} ranks; pick a batch "
                         f"divisible by {world}")
    say = (lambda *m: print(*m, file=sys.stderr, flush=True)) if rank == 0 else (lambda *m: None)
    data = MnistData(a.data, a.net, a.mnist_dir) if a.data.startswith("mnist") else ToyData(a.data, a.net)
    info = data.info
    torch.manual_seed(a.seed)  # the network's init, the same on every rank
    den = EDMDenoiser((MLPScoreNet if info["net"] == "mlp" else UNet)(**info["netConfig"]), 0.5).to(device)
    ema = [p.detach().clone() for p in den.parameters()]
    opt = torch.optim.Adam(den.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    rng, gen = HostRng(a.seed), torch.Generator(device).manual_seed(a.seed)
    start, opt_steps, ema_updates = 0, 0, 0
    ckpt, metrics_path = os.path.join(a.out, "checkpoint.safetensors"), os.path.join(a.out, "metrics.jsonl")
    if rank == 0:
        os.makedirs(a.out, exist_ok=True)
    if a.resume and os.path.exists(ckpt):
        start, opt_steps, ema_updates = restore(ckpt, den, opt, ema, device)
        for g in opt.param_groups:
            g["lr"] = a.lr  # the command line decides the learning rate of the resumed segment (e.g. a final lr drop)
        rng = HostRng(a.seed + start * 7919)  # a fresh data stream per resumed segment, seeded by the step (as onestep)
        gen.manual_seed(a.seed + start * 7919)
        if rank == 0:
            truncate_log(metrics_path, start, key="step")
        say(f"train-teacher: resumed from {ckpt} at step {start}")
    elif a.resume:
        say(f"train-teacher: no checkpoint at {ckpt}; starting fresh")
    if not (a.resume and start) and rank == 0:
        write_atomic(metrics_path, "")
    model = EDMLoss(den)
    if world > 1:
        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    b = a.batch // world
    s = slice(rank * b, (rank + 1) * b)
    t0, pending = time.perf_counter(), []
    for step in range(start + 1, a.steps + 1):
        y, labels = data.batch(a.batch, rng)  # the global batch on every rank; each keeps its slice
        y, labels = y.to(device), None if labels is None else labels.to(device)
        sigma, labels, noise = edm_draws(y, labels, data.label_dropout, a.pMean, a.pStd, gen)
        loss = model(y[s], sigma[s], None if labels is None else labels[s], noise[s])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        opt_steps += 1
        if a.ema > 0:
            beta = 0.5 ** (a.batch / max(a.ema, 1e-8))
            with torch.no_grad():
                for e, p in zip(ema, den.parameters()):
                    e.mul_(beta).add_(p.detach(), alpha=1 - beta)
            ema_updates += 1
        pending.append((step, loss.detach()))
        last = step == a.steps
        if len(pending) == 50 or last:
            v = torch.stack([l for _, l in pending])
            if world > 1:
                dist.all_reduce(v)
            v = (v / world).tolist()
            if rank == 0:
                with open(metrics_path, "a") as f:
                    f.write("".join(json.dumps({"step": st, "loss": x}) + "\n" for (st, _), x in zip(pending, v)))
                rate = (step - start) / max(time.perf_counter() - t0, 1e-9)
                say(f"step {step}/{a.steps}  loss {v[-1]:.4g}  {rate:.1f} steps/s")
            pending = []
        if rank == 0 and (step % a.checkpoint_every == 0 or last):
            save_checkpoint(ckpt, step, den, opt, opt_steps, ema, ema_updates, a.seed)
        if rank == 0 and a.eval_every > 0 and (step % a.eval_every == 0 or last):
            m = data.evaluate(shipped(den, ema, a.ema, info, device), False, a.out, step, device)
            with open(metrics_path, "a") as f:
                f.write(json.dumps({"step": step, "eval": m}) + "\n")
    if rank == 0:
        final = shipped(den, ema, a.ema, info, device)
        metric = data.evaluate(final, True, a.out, a.steps, device)
        info["recipe"] = {"command": " ".join(["python3", os.path.relpath(sys.argv[0])] + sys.argv[1:]),
                          "trainer": "interop/pytorch/train_teacher.py", "params": sum(p.numel() for p in final.parameters()),
                          "steps": a.steps, "batch": a.batch, "lr": a.lr, "emaHalfLife": a.ema, "pMean": a.pMean,
                          "pStd": a.pStd, "seed": a.seed, "ranks": world, "wallSeconds": round(time.perf_counter() - t0, 1),
                          "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "metric": metric}
        save_model(os.path.join(a.out, "teacher.safetensors"), final, info)
        print(json.dumps(metric), flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


def shipped(den, ema, half_life, info, device):
    """The model to evaluate and ship: the EMA weights (the raw ones with --ema 0)."""
    if half_life <= 0:
        return den
    out = EDMDenoiser((MLPScoreNet if info["net"] == "mlp" else UNet)(**info["netConfig"]), 0.5).to(device)
    with torch.no_grad():
        for o, e in zip(out.parameters(), ema):
            o.copy_(e)
    return out.eval()


if __name__ == "__main__":
    sys.exit(main())
