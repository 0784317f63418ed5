/**
 * The WebGPU test files' one way to declare a test: it runs on the webgpu
 * backend and leaves cpu active behind it, and is ignored where no adapter
 * was found (each file says why once).
 */
import { tf } from "../lib/tf.ts";
import { useBackend } from "../lib/backend.ts";

/**
 * A `gpuTest(name, fn)` whose tests are named `<label>: <name>`, ignored
 * when `skip` (why WebGPU cannot run here) is not null; `after` runs after
 * each test, before cpu is set back.
 */
export function webgpuTests(
  label: string,
  skip: string | null,
  after: () => void = () => {},
): (name: string, fn: () => Promise<void> | void) => void {
  return (name, fn) =>
    Deno.test({
      name: `${label}: ${name}`,
      ignore: skip !== null,
      // tfjs-webgpu keeps its GPUDevice (a Deno resource) for the life of the process.
      sanitizeResources: false,
      sanitizeOps: false,
      fn: async () => {
        await useBackend("webgpu");
        try {
          await fn();
        } finally {
          after();
          await tf.setBackend("cpu");
        }
      },
    });
}
