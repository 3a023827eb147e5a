// engine/ops/linalg.ts: matmul (torch.matmul: batched, broadcast batch dims, 1-D operands promoted) and linear
// (y = x·wᵀ + b, torch.nn.functional.linear). Transposed operands are read in place and the bias is fused, so
// neither the forward nor the backward copies.
import { matmulKernel } from '../../kernels/matmul/dispatch';
import { broadcastShapes } from '../../kernels/elementwise/dispatch';
import { ShapeError, ValueError, fmtShape } from '../../runtime/errors';
import { Tensor, tidy } from '../tensor';
import { apply, type OpDef } from './op';
import { sum } from './reduce';
import { reshape } from './shape';
import { checkInputs } from './validate';

export interface MatmulOpts {
  transA?: boolean;
  transB?: boolean;
}
export interface MatmulAttrs {
  transA: boolean;
  transB: boolean;
}

export const LINALG_OPS = {
  // C = op(A)·op(B) (+ bias on every row), op = transpose where asked; f16 operands are read as halves
  matmul: {
    inputs: ['a', 'b', 'bias?'], family: 'matmul',
    shape: ([a, b], { transA, transB }) => [
      ...broadcastShapes('matmul (batch dims)', a.slice(0, -2), b.slice(0, -2)),
      transA ? a.at(-1)! : a.at(-2)!,
      transB ? b.at(-2)! : b.at(-1)!,
    ],
    forward: ([a, b, bias], { transA, transB }) => matmulKernel(a, b, { transA, transB, bias }),
    // dA = g·op(B)ᵀ (or its transpose), dB = op(A)ᵀ·g (or its transpose), dbias = Σ rows of g: no copies
    backward: (g, { inputs: [a, b, bias], attrs: { transA, transB }, need }) => [
      need[0] ? (transA ? matmulOf(b, g, transB, true) : matmulOf(g, b, false, !transB)) : null,
      need[1] ? (transB ? matmulOf(g, a, true, transA) : matmulOf(a, g, !transA, false)) : null,
      bias && need[2] ? sum(g, g.shape.slice(0, -1).map((_, i) => i)) : null,
    ],
  } satisfies OpDef<MatmulAttrs>,
};

/** Applies the matmul entry; the bias is optional. */
function matmulOf(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias?: Tensor): Tensor {
  return apply('matmul', LINALG_OPS.matmul, bias ? [a, b, bias] : [a, b], { transA, transB });
}

/** torch.matmul: 1-D operands are promoted and the added dim removed; batch dims broadcast. */
export function matmul(a: Tensor, b: Tensor, o: MatmulOpts = {}): Tensor {
  checkInputs('matmul', a, b);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: scalars are not matrices (${fmtShape(a.shape)} @ ${fmtShape(b.shape)}); use mul`);
  if (a.ndim === 1 || b.ndim === 1) {
    return tidy(() => {
      const A = a.ndim === 1 ? reshape(a, [1, a.shape[0]]) : a;
      const B = b.ndim === 1 ? reshape(b, [b.shape[0], 1]) : b;
      const out = matmul(A, B, o);
      const s = [...out.shape];
      if (b.ndim === 1) s.splice(s.length - 1, 1);
      if (a.ndim === 1) s.splice(s.length - (b.ndim === 1 ? 1 : 2), 1);
      return reshape(out, s);
    });
  }
  return matmulOf(a, b, !!o.transA, !!o.transB);
}

/** y = x·wᵀ + b with w [out, in] (torch.nn.functional.linear); wᵀ is read in place, the bias is fused. */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  checkInputs('linear', ...(b ? [x, w, b] : [x, w]));
  if (w.ndim !== 2) throw new ShapeError(`linear: weight must be [out, in], got ${fmtShape(w.shape)}`);
  if (x.shape.at(-1) !== w.shape[1]) throw new ShapeError(`linear: input ${fmtShape(x.shape)} has ${x.shape.at(-1)} features but weight ${fmtShape(w.shape)} expects ${w.shape[1]}`);
  if (b && (b.ndim !== 1 || b.shape[0] !== w.shape[0])) throw new ShapeError(`linear: bias ${fmtShape(b.shape)} must be [${w.shape[0]}] for weight ${fmtShape(w.shape)}`);
  if (b && b.dtype !== 'f32') throw new ValueError(`linear: bias ${fmtShape(b.shape)} is ${b.dtype}; the bias is added in f32, pass b.float() (x and w may be f16)`);
  if (x.ndim === 1) return tidy(() => reshape(linear(reshape(x, [1, x.shape[0]]), w, b), [w.shape[0]]));
  if (x.ndim > 2) {
    // fold batch dims into rows so the weight is shared without broadcasting
    return tidy(() => reshape(linear(reshape(x, [-1, x.shape.at(-1)!]), w, b), [...x.shape.slice(0, -1), w.shape[0]]));
  }
  return matmulOf(x, w, false, true, b);
}
