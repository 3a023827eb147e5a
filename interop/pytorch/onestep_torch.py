"""interop/pytorch/onestep_torch.py: a PyTorch mirror of onestep's models with identical parameter names, so a model
trained in the browser or Node can be trained further or sampled in PyTorch (and its distributed tooling), and back.

Mirrors: MLPScoreNet (models/mlp.ts), UNet (models/unet.ts), EDMDenoiser (models/edm.ts), the Heun sampler (models/samplers.ts), and the
safetensors files onestep writes (a small reader/writer here, so the `safetensors` package is not required).
"""
import hashlib
import json
import math
import os
import struct
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- safetensors (the subset onestep writes: F32 tensors, a __metadata__ of strings) --------------------------------

_DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
           "I64": (torch.int64, 8), "I32": (torch.int32, 4), "U8": (torch.uint8, 1)}


def load_safetensors(path, verify=False):
    """Returns ({name: tensor}, metadata). Validates offsets against the file size; verify=True also requires and checks
    __metadata__.dataSha256 (checkpoints written by onestep or by save_safetensors(checksum=True))."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for safetensors")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    if verify:
        want = meta.get("dataSha256")
        if not want:
            raise ValueError(f"{path}: no dataSha256 in __metadata__; it is not a checked checkpoint")
        got = hashlib.sha256(data[base:]).hexdigest()
        if got != want:
            raise ValueError(f"{path}: data checksum {got[:12]}… does not match the recorded {want[:12]}…; the file is "
                             f"corrupt — use an older checkpoint")
    out = {}
    for name, info in header.items():
        dtype, size = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        if not (0 <= begin <= end <= len(data) - base):
            raise ValueError(f"{path}: tensor {name} offsets {begin}..{end} outside the data")
        buf = bytearray(data[base + begin:base + end])
        t = torch.frombuffer(buf, dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out, meta


def save_safetensors(path, tensors, metadata=None, checksum=False):
    """Writes F32 safetensors in the layout the Rust implementation uses (sorted by name within one dtype), atomically
    (temp file in the same folder, fsync, rename). checksum=True adds the data section's SHA-256 as
    __metadata__.dataSha256, as onestep's saveSafetensorsChecked does for checkpoints."""
    names = sorted(tensors)
    header, blobs, offset = {}, [], 0
    for name in names:
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    data = b"".join(blobs)
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    if checksum:
        meta["dataSha256"] = hashlib.sha256(data).hexdigest()
    if meta:
        header = {"__metadata__": meta, **header}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    write_atomic(path, struct.pack("<Q", len(h)) + h + data)


def write_atomic(path, data):
    """Replaces path with data so that a reader sees the old file or the new one, never half of one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable (not possible on every platform)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# ---- models -----------------------------------------------------------------------------------------------------------

class MLPScoreNet(nn.Module):
    """models/mlp.ts: [c_in·x, c_noise, sin/cos(2^k c_noise)] (+ one-hot class) → Linear → SiLU, residual SiLU blocks,
    zero-initialised output. Parameter names: input.*, blocks.{i}.*, output.*"""

    def __init__(self, dim=2, hidden=128, depth=3, freqs=6, labelDim=0):
        super().__init__()
        self.dim, self.freqs, self.labelDim = dim, freqs, labelDim
        self.input = nn.Linear(dim + 1 + 2 * freqs + labelDim, hidden)
        self.blocks = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(depth - 1)])
        self.output = nn.Linear(hidden, dim)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def embed(self, c_noise):
        c = c_noise.reshape(-1, 1)
        f = 2.0 ** torch.arange(self.freqs, dtype=c.dtype, device=c.device)
        return torch.cat([c, torch.sin(c * f), torch.cos(c * f)], 1)

    def bottleneck(self, x_in, c_noise, labels=None):
        """The last hidden layer [B, hidden]: what DMD2's GAN head reads for 2-D data."""
        parts = [x_in, self.embed(c_noise)]
        if self.labelDim > 0:
            parts.append(labels if labels is not None else x_in.new_zeros(x_in.shape[0], self.labelDim))
        h = F.silu(self.input(torch.cat(parts, 1)))
        for b in self.blocks:
            h = h + F.silu(b(h))
        return h

    @property
    def bottleneck_shape(self):
        return [self.input.out_features]

    def forward(self, x_in, c_noise, labels=None):
        return self.output(self.bottleneck(x_in, c_noise, labels))


def _zero(module):
    """EDM zero-initialises the last layer of each residual branch and the output (models/unet.ts does the same)."""
    for p in module.parameters():
        nn.init.zeros_(p)


def _groups(c):
    return max(1, min(32, c // 4))


class SelfAttention2d(nn.Module):
    """engine/nn/attention.ts MultiheadSelfAttention2d: x + proj(attention(qkv(GN(x)))), EDM's interleaved q/k/v."""

    def __init__(self, channels, num_heads):
        super().__init__()
        self.heads = num_heads
        self.norm = nn.GroupNorm(_groups(channels), channels, eps=1e-5)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        _zero(self.proj)  # a fresh block is the identity (EDM)

    def forward(self, x):
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n * self.heads, c // self.heads, 3, h * w)
        q, k, v = qkv.unbind(2)
        att = torch.softmax(torch.einsum("ncq,nck->nqk", q, k / math.sqrt(q.shape[1])), dim=2)
        a = torch.einsum("nqk,nck->ncq", att, v)
        return x + self.proj(a.reshape(n, c, h, w))


class UNetBlock(nn.Module):
    """models/unet.ts UNetBlock: conv0(resample(silu(GN0 x))); silu(shift + GN1(h)(scale+1)); conv1; + skip; attention."""

    def __init__(self, cin, cout, emb, how, attention, channels_per_head, dropout):
        super().__init__()
        self.how, self.cout, self.dropout = how, cout, dropout
        self.norm0 = nn.GroupNorm(_groups(cin), cin, eps=1e-5)
        self.conv0 = nn.Conv2d(cin, cout, 3, padding=1)
        self.affine = nn.Linear(emb, 2 * cout)
        self.norm1 = nn.GroupNorm(_groups(cout), cout, eps=1e-5, affine=False)
        self.conv1 = nn.Conv2d(cout, cout, 3, padding=1)
        _zero(self.conv1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.attn = SelfAttention2d(cout, max(1, cout // channels_per_head)) if attention else None

    def resample(self, x):
        if self.how == "down":
            return F.avg_pool2d(x, 2)
        if self.how == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x, emb):
        h = self.conv0(self.resample(F.silu(self.norm0(x))))
        scale, shift = self.affine(emb).unsqueeze(2).unsqueeze(3).chunk(2, dim=1)
        h = F.silu(torch.addcmul(shift, self.norm1(h), scale + 1))
        h = self.conv1(F.dropout(h, p=self.dropout, training=self.training))
        s = self.resample(x)
        h = h + (self.skip(s) if self.skip is not None else s)
        return self.attn(h) if self.attn is not None else h


class UNet(nn.Module):
    """models/unet.ts UNet (EDM DhariwalUNet at toy size). Parameter names: mapNoise0/1, mapLabel, convIn, enc.{i},
    mid.{0,1}, dec.{i}, normOut, convOut."""

    def __init__(self, resolution=16, inChannels=1, outChannels=1, labelDim=10, modelChannels=32, channelMult=(1, 2),
                 numBlocks=1, attnResolutions=(8,), channelsPerHead=32, dropout=0.0, embMult=4):
        super().__init__()
        mc, emb, cph = modelChannels, modelChannels * embMult, channelsPerHead
        self.labelDim, self.mc = labelDim, mc
        self.bottleneck_shape = [mc * channelMult[-1], resolution // 2 ** (len(channelMult) - 1), resolution // 2 ** (len(channelMult) - 1)]
        self.mapNoise0 = nn.Linear(mc, emb)
        self.mapNoise1 = nn.Linear(emb, emb)
        self.mapLabel = nn.Linear(labelDim, emb, bias=False) if labelDim > 0 else None
        self.convIn = nn.Conv2d(inChannels, mc * channelMult[0], 3, padding=1)
        enc, skips = [], [mc * channelMult[0]]
        ch, res = skips[0], resolution
        for level, mult in enumerate(channelMult):
            if level > 0:
                res //= 2
                enc.append(UNetBlock(ch, ch, emb, "down", False, cph, dropout))
                skips.append(ch)
            for _ in range(numBlocks):
                enc.append(UNetBlock(ch, mc * mult, emb, "none", res in attnResolutions, cph, dropout))
                ch = mc * mult
                skips.append(ch)
        self.enc = nn.ModuleList(enc)
        self.mid = nn.ModuleList([UNetBlock(ch, ch, emb, "none", True, cph, dropout), UNetBlock(ch, ch, emb, "none", False, cph, dropout)])
        dec, self.takes_skip = [], []
        for level in reversed(range(len(channelMult))):
            if level < len(channelMult) - 1:
                res *= 2
                dec.append(UNetBlock(ch, ch, emb, "up", False, cph, dropout))
                self.takes_skip.append(False)
            for _ in range(numBlocks + 1):
                cin = ch + skips.pop()
                ch = mc * channelMult[level]
                dec.append(UNetBlock(cin, ch, emb, "none", res in attnResolutions, cph, dropout))
                self.takes_skip.append(True)
        self.dec = nn.ModuleList(dec)
        self.normOut = nn.GroupNorm(_groups(ch), ch, eps=1e-5)
        self.convOut = nn.Conv2d(ch, outChannels, 3, padding=1)
        _zero(self.convOut)

    def embed(self, c_noise, labels):
        half = self.mc // 2
        f = (1e-4 ** (torch.arange(half, dtype=c_noise.dtype) / half)).to(c_noise.device)
        a = c_noise.reshape(-1, 1) * f
        e = self.mapNoise1(F.silu(self.mapNoise0(torch.cat([a.cos(), a.sin()], 1))))
        if self.mapLabel is not None:
            e = e + self.mapLabel(labels if labels is not None else e.new_zeros(e.shape[0], self.labelDim))
        return F.silu(e)

    def encode(self, x_in, c_noise, labels):
        emb = self.embed(c_noise, labels)
        x = self.convIn(x_in)
        skips = [x]
        for b in self.enc:
            x = b(x, emb)
            skips.append(x)
        return emb, skips, x

    def bottleneck(self, x_in, c_noise, labels=None):
        """The encoder's output [B, C, r, r] (before the bottleneck blocks): what DMD2's GAN head reads."""
        return self.encode(x_in, c_noise, labels)[2]

    def forward(self, x_in, c_noise, labels=None):
        emb, skips, x = self.encode(x_in, c_noise, labels)
        for b in self.mid:
            x = b(x, emb)
        for b, takes in zip(self.dec, self.takes_skip):
            x = b(torch.cat([x, skips.pop()], 1) if takes else x, emb)
        return self.convOut(F.silu(self.normOut(x)))


class EDMDenoiser(nn.Module):
    """models/edm.ts: D(x; σ, y) = c_skip·x + c_out·F(c_in·x; ln(σ)/4, y). State-dict keys: net.*"""

    def __init__(self, net, sigmaData=0.5):
        super().__init__()
        self.net, self.sigmaData = net, sigmaData

    @property
    def labelDim(self):
        return self.net.labelDim

    def coefficients(self, x, sigma):
        """c_skip, c_out, c_in shaped to broadcast against x [B, ...]."""
        s = sigma.reshape(-1, *([1] * (x.dim() - 1)))
        sd = self.sigmaData
        return sd ** 2 / (s ** 2 + sd ** 2), s * sd / (s ** 2 + sd ** 2).sqrt(), 1 / (s ** 2 + sd ** 2).sqrt()

    def raw_f(self, x, sigma, labels=None):
        """F(c_in·x; ln(σ)/4, y): the network's raw output, what EDM's loss regresses."""
        return self.net(x * self.coefficients(x, sigma)[2], sigma.log() / 4, labels)

    def bottleneck(self, x, sigma, labels=None):
        return self.net.bottleneck(x * self.coefficients(x, sigma)[2], sigma.log() / 4, labels)

    def forward(self, x, sigma, labels=None):
        c_skip, c_out, _ = self.coefficients(x, sigma)
        return c_skip * x + c_out * self.raw_f(x, sigma, labels)

    def guided(self, x, sigma, labels, cfg=1.0):
        """Classifier-free guidance in DMD2's form D_u + w·(D_c − D_u), the null class = a zero label row."""
        if labels is None or cfg == 1:
            return self(x, sigma, labels)
        d_c, d_u = self(x, sigma, labels), self(x, sigma, torch.zeros_like(labels))
        return d_u + cfg * (d_c - d_u)


def f_space_loss(den, y, sigma, labels, noise):
    """EDM's denoising loss in F-space at given σ and ε: mean ‖F(c_in·x_t) − (y − c_skip·x_t)/c_out‖², x_t = y + σ·ε.
    Equal to λ(σ)·‖D(x_t) − y‖² with λ = 1/σ² + 1/σ_d², without the 2.5e5-sized weights at σ = 0.002."""
    x_t = y + noise * sigma.reshape(-1, *([1] * (y.dim() - 1)))
    c_skip, c_out, _ = den.coefficients(y, sigma)
    return F.mse_loss(den.raw_f(x_t, sigma, labels), (y - c_skip * x_t) / c_out)


def karras_grid(levels=1000, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """DMD's Karras grid, ascending (index 0 = σ_min, 999 = σ_max), float64 like models/edm.ts karrasGrid."""
    f = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    return ((sigma_max ** (1 / rho) + f * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho).flip(0)


class _ConvStage(nn.Module):
    def __init__(self, channels, kernel, stride, padding):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel, stride=stride, padding=padding)
        self.norm = nn.GroupNorm(_groups(channels), channels, eps=1e-5)

    def forward(self, x):
        return F.silu(self.norm(self.conv(x)))


class GanHead(nn.Module):
    """models/gan.ts GanHead, DMD2's classifier on the fake score's bottleneck: for UNet features [C, r, r]
    (Conv4×4 s2 p1 → GN → SiLU) while r > 4, then Conv r×r stride r → GN → SiLU, then Conv1×1 C → 1; for MLP features
    [H] one Linear H → 1. Parameter names: stages.{i}.conv/norm, out."""

    def __init__(self, feature_shape):
        super().__init__()
        self.feature_shape = list(feature_shape)
        if len(feature_shape) == 1:
            self.stages, self.out = None, nn.Linear(feature_shape[0], 1)
            return
        if len(feature_shape) != 3 or feature_shape[1] != feature_shape[2]:
            raise ValueError(f"GanHead: features must be [C, r, r] or [H], got {feature_shape}")
        c, res, stages = feature_shape[0], feature_shape[1], []
        while res > 4:
            stages.append(_ConvStage(c, 4, 2, 1))
            res //= 2
        stages.append(_ConvStage(c, res, res, 0))
        self.stages, self.out = nn.ModuleList(stages), nn.Conv2d(c, 1, 1)

    def forward(self, features):
        h = features
        for s in self.stages or []:
            h = s(h)
        return self.out(h).reshape(features.shape[0])


def edm_sigmas(steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    i = torch.arange(steps, dtype=torch.float64)
    t = (sigma_max ** (1 / rho) + i / max(steps - 1, 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([t, torch.zeros(1, dtype=torch.float64)])


@torch.no_grad()
def heun_sample(den, z, steps=18, labels=None):
    """models/samplers.ts heunSample on given unit noise z: 2·steps − 1 evaluations."""
    t = edm_sigmas(steps).tolist()
    x = z * t[0]
    full = lambda v: torch.full((x.shape[0],), v, dtype=x.dtype)
    for i in range(steps):
        d = (x - den(x, full(t[i]), labels)) / t[i]
        xe = x + (t[i + 1] - t[i]) * d
        if t[i + 1] == 0:
            x = xe
        else:
            d2 = (xe - den(xe, full(t[i + 1]), labels)) / t[i + 1]
            x = x + (t[i + 1] - t[i]) * 0.5 * (d + d2)
    return x


def load_model(path):
    """Rebuilds the model an onestep file describes (its __metadata__.onestep) and loads its weights strictly."""
    tensors, meta = load_safetensors(path)
    info = json.loads(meta["onestep"])
    nets = {"mlp": MLPScoreNet, "unet": UNet}
    if info["kind"] != "edm-denoiser" or info["net"] not in nets:
        raise ValueError(f"{path}: unsupported model {info['kind']}/{info['net']}")
    den = EDMDenoiser(nets[info["net"]](**info["netConfig"]), info["sigmaData"])
    den.load_state_dict(tensors, strict=True)
    return den, info


def save_model(path, den, info):
    save_safetensors(path, den.state_dict(), {"format": "pt", "onestep": json.dumps(info)})
