// kernels/matmul/reference.ts: plain-TS float64 matmul with torch.matmul semantics (1-D operands promoted and the added
// dim removed, batch dims broadcast), operands optionally stored transposed, and an optional bias [N]; plus
// torch.nn.functional.linear. Ground truth for test/kernels/matmul.test.ts.
import { broadcastIndex, sizeOf, type HostTensor } from '../elementwise/reference';
import { broadcastShapes } from '../grid';

export interface MatmulRefOptions {
  /** A is stored [..., K, M] (its last two dims transposed). */
  transA?: boolean;
  /** B is stored [..., N, K]. */
  transB?: boolean;
  /** [N], added to every row of C. */
  bias?: Float64Array;
}

/** C = op(A)·op(B) (+ bias) with a of shape aShape and b of shape bShape (row-major). */
export function matmulRef(a: ArrayLike<number>, aShape: readonly number[], b: ArrayLike<number>, bShape: readonly number[], o: MatmulRefOptions = {}): HostTensor {
  if (aShape.length === 0 || bShape.length === 0) throw new Error('matmulRef: scalar operand');
  const A1 = aShape.length === 1, B1 = bShape.length === 1;
  const as = A1 ? [1, aShape[0]] : [...aShape];
  const bs = B1 ? [bShape[0], 1] : [...bShape];
  const [ar, ac] = as.slice(-2), [br, bc] = bs.slice(-2);
  const [M, K] = o.transA && !A1 ? [ac, ar] : [ar, ac];
  const [Kb, N] = o.transB && !B1 ? [bc, br] : [br, bc];
  if (K !== Kb) throw new Error(`matmulRef: inner dims ${K} vs ${Kb}`);
  const batchShape = broadcastShapes('reference', as.slice(0, -2), bs.slice(0, -2));
  const batch = sizeOf(batchShape);
  const ai = broadcastIndex(as.slice(0, -2), batchShape), bi = broadcastIndex(bs.slice(0, -2), batchShape);
  // element strides of op(A)[m, k] and op(B)[k, n] inside one matrix
  const [aM, aK] = o.transA && !A1 ? [1, M] : [K, 1];
  const [bK, bN] = o.transB && !B1 ? [1, K] : [N, 1];
  const out = new Float64Array(batch * M * N);
  for (let p = 0; p < batch; p++) {
    const aBase = ai[p] * M * K, bBase = bi[p] * K * N, cBase = p * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = o.bias ? o.bias[n] : 0;
        for (let k = 0; k < K; k++) s += a[aBase + m * aM + k * aK] * b[bBase + k * bK + n * bN];
        out[cBase + m * N + n] = s;
      }
    }
  }
  const shape = [...batchShape, M, N];
  if (B1) shape.splice(shape.length - 1, 1);
  if (A1) shape.splice(shape.length - (B1 ? 1 : 2), 1);
  return { data: out, shape };
}

/** y = x·wᵀ + b with w [out, in] (torch.nn.functional.linear); x may have any leading dims. */
export function linearRef(x: HostTensor, w: HostTensor, b?: HostTensor): HostTensor {
  return matmulRef(x.data, x.shape, w.data, w.shape, { transB: true, bias: b?.data });
}
