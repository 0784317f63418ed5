/**
 * How the suite runs its own WGSL on tfjs-backend-webgpu's tensors: the part
 * of a tfjs `WebGPUProgram` it fills in, and `runProgram`. The package is not
 * imported here: tfjs-core's engine hands out the active backend, and only
 * its `runWebGPUProgram` is used. Not any program itself (`layer.ts`,
 * `update.ts`).
 */
import { tf } from "../../tf.ts";

/**
 * The part of tfjs-backend-webgpu's `WebGPUProgram` (dist/webgpu_program.d.ts)
 * the suite's programs fill in. tfjs generates the bindings (`result` for the
 * output, one `array<f32>` per name in `variableNames`, `uniforms` with the
 * shapes, `size` when asked and the fields named in `uniforms`), calls
 * `main(index)` on every thread, and caches the compiled pipeline under
 * `shaderKey`. A pipeline binds only what its code reads, so a program must
 * read every input and at least one uniform.
 */
export interface WebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames: string[];
  size?: boolean;
  uniforms?: string;
  getUserCode: () => string;
}

/** Values of a program's own uniforms, in the order its `uniforms` declares them. */
export type ProgramUniforms = { type: "float32" | "int32"; data: number[] }[];

interface WebGpuBackend {
  runWebGPUProgram(
    program: WebGpuProgram,
    inputs: tf.TensorInfo[],
    dtype: "float32",
    uniforms?: ProgramUniforms,
  ): tf.TensorInfo;
}

/** Runs `program` on the active webgpu backend's tensors and returns its output as a tensor. */
export function runProgram(program: WebGpuProgram, inputs: tf.Tensor[], uniforms?: ProgramUniforms): tf.Tensor {
  const backend = tf.backend() as unknown as WebGpuBackend;
  if (typeof backend.runWebGPUProgram !== "function") {
    throw new Error(`WebGPU programs need the webgpu backend, not ${tf.getBackend()}`);
  }
  return tf.engine().makeTensorFromTensorInfo(backend.runWebGPUProgram(program, inputs, "float32", uniforms));
}
