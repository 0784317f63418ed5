/**
 * From a fused layer's one output tensor to the parts a model uses. The fused
 * kernels (cpu/, webgpu/) return every step's h, and for LSTM every step's c
 * beside it (`[S, B, T, 2H]`), as one tensor so that tfjs sees one op with one
 * gradient; this slices it. Not a kernel itself.
 */
import { tf } from "../tf.ts";
import type { LayerOutput } from "./kernel.ts";

/** Splits `y` `[S, B, T, H]` (LSTM `[S, B, T, 2H]`, h then c) into the outputs and the final h and c. */
export function splitLayerOutput(y: tf.Tensor4D, hidden: number, lstm: boolean): LayerOutput {
  const [S, B, T] = y.shape;
  const last = (from: number) => tf.reshape(tf.slice(y, [0, 0, T - 1, from], [S, B, 1, hidden]), [S, B, hidden]);
  return {
    outputs: lstm ? tf.slice(y, [0, 0, 0, 0], [S, B, T, hidden]) : y,
    h: last(0) as tf.Tensor3D,
    c: lstm ? last(hidden) as tf.Tensor3D : null,
  };
}
