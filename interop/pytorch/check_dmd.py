"""interop/pytorch/check_dmd.py: the PyTorch trainer against the TypeScript one, for test/interop-distill.test.ts.

  python3 check_dmd.py losses TEACHER CKPT INPUTS OUT CONFIG_JSON
      Restores an onestep checkpoint, then evaluates the generator's and the fake score's losses on fixed draws
      (z, labels, σ and ε of every noising, regression pairs, real data) with the trainer's own functions, and writes
      the losses and the gradients of both updates (grad.generator.*, grad.fake.*, grad.head.*).
  python3 check_dmd.py imagemetrics SAMPLES CLASSIFIER
      FD, precision/recall and the class histogram of images x [N, 1, S, S] (with labels y [N]) in the classifier's
      features against the held-out digits, as JSON (the numbers `onestep eval --data mnistS` prints).
  python3 check_dmd.py toy SAMPLES OUT
      For each toy set NAME: 1,000 samples data.NAME from HostRng(5); for the samples x [N, 2]: SWD to 8gaussians'
      sample(N, HostRng(777)) and the mode statistics (models/metrics/toy.ts), as OUT tensors and JSON on stdout.
  python3 check_dmd.py continue TEACHER CKPT GRADS OUT1 OUT2 CONFIG_JSON
      Restores an onestep checkpoint and writes it back at once (OUT1), then takes one step of every optimiser with the
      given gradients (g.generator.{i}, g.fake.{i}, g.head.{i}) plus the generator's EMA update, and writes OUT2.
"""
import json
import sys

import torch

from dmd_torch import DMDTrainer, frozen
from onestep_torch import EDMDenoiser, MLPScoreNet, UNet, load_model, load_safetensors, save_safetensors


def no_real_data(n, rng):
    raise RuntimeError("check_dmd.py: the real data comes from the inputs file; step() is not called here")


def trainer(teacher_path, config, pairs=None):
    teacher, info = load_model(teacher_path)
    c = info["netConfig"]
    make = lambda: EDMDenoiser((MLPScoreNet if info["net"] == "mlp" else UNet)(**c), info["sigmaData"])
    shape = [c["dim"]] if info["net"] == "mlp" else [c["inChannels"], c["resolution"], c["resolution"]]
    return DMDTrainer(teacher, make, shape, config, "cpu", pairs, no_real_data if config.get("ganWeight", 0) > 0 else None)


def restored(teacher_path, ckpt_path, config, pairs=None):
    tr = trainer(teacher_path, config, pairs)
    tensors, meta = load_safetensors(ckpt_path, verify=True)
    tr.restore(tensors, meta)
    return tr


cmd = sys.argv[1]
if cmd == "losses":
    _, _, teacher_path, ckpt_path, inputs_path, out_path, config_json = sys.argv
    i, _ = load_safetensors(inputs_path)
    config = json.loads(config_json)
    tr = restored(teacher_path, ckpt_path, config, {"z": i["zs"], "y": i["ys"]} if config.get("regWeight", 0) > 0 else None)
    labels = i.get("labels")
    if "zs" in i:  # as step() does it: one generator pass over the batch and the regression pairs
        x, g_ref = tr.generate_with_pairs(i["z"], labels, i["zs"])
        reg = (g_ref, i["ys"])
    else:
        x, reg = tr.generate(i["z"], labels, tr.G), None
    gan = (i["sg"], i["ng"]) if tr.head is not None else None
    with frozen(tr.guidance):
        total, g = tr.generator_loss(x, labels, i["sigma"], i["noise"], reg, gan)
        total.backward()
    out = {k: v.reshape(1) for k, v in g.items() if k != "gradNormSq"}
    out["gradNorm"] = g["gradNormSq"].sqrt().reshape(1)
    zero = lambda p: p.grad if p.grad is not None else torch.zeros_like(p)  # a parameter the loss does not reach
    out.update({f"grad.generator.{n}": zero(p) for n, p in tr.generator.named_parameters()})
    dgan = None
    if tr.head is not None:
        dgan = {"real": i["real"], "real_labels": i.get("realLabels"), "sigma_fake": i["sdf"], "noise_fake": i["ndf"],
                "sigma_real": i["sdr"], "noise_real": i["ndr"]}
    total, f = tr.guidance_loss(x.detach(), labels, i["sf"], i["nf"], dgan)
    total.backward()
    out.update({k: v.reshape(1) for k, v in f.items()})
    out.update({f"grad.{n}": zero(p) for n, p in tr.guidance.named_parameters()})
    save_safetensors(out_path, out)
elif cmd == "continue":
    _, _, teacher_path, ckpt_path, grads_path, out1, out2, config_json = sys.argv
    tr = restored(teacher_path, ckpt_path, json.loads(config_json))
    t, m = tr.state()
    save_safetensors(out1, t, m, checksum=True)
    g, _ = load_safetensors(grads_path)
    for name, module in (("generator", tr.generator), ("fake", tr.fake), ("head", tr.head)):
        for k, p in enumerate(module.parameters() if module is not None else []):
            p.grad = g[f"g.{name}.{k}"].clone()
    tr._step("optG", tr.optG, tr.cfg["lr"])
    tr._ema_update()
    tr._step("optF", tr.optF, tr.cfg["fakeLr"])
    if tr.optH is not None:
        tr._step("optH", tr.optH, tr.cfg["fakeLr"])
    t, m = tr.state()
    save_safetensors(out2, t, m, checksum=True)
elif cmd == "toy":
    from onestep_data import HostRng, TOY2D_NAMES, mode_stats, sliced_wasserstein, toy2d
    t, _ = load_safetensors(sys.argv[2])
    d = toy2d("8gaussians")
    save_safetensors(sys.argv[3], {f"data.{n}": toy2d(n).sample(1000, HostRng(5)) for n in TOY2D_NAMES})
    print(json.dumps({"swd": sliced_wasserstein(t["x"], d.sample(t["x"].shape[0], HostRng(777))),
                      "modes": mode_stats(t["x"], d.modes)}))
elif cmd == "imagemetrics":
    from onestep_data import ImageReference, image_metrics, load_classifier
    t, _ = load_safetensors(sys.argv[2])
    classifier = load_classifier(sys.argv[3])
    m = image_metrics(t["x"], classifier, ImageReference(classifier), t["y"].long() if "y" in t else None)
    print(json.dumps(m))
else:
    raise SystemExit(f"check_dmd.py: unknown command {cmd}")
