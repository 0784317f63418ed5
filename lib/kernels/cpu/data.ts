/**
 * The echo task's bits from the wasm SIMD generator (`wasm/src/data.ts`):
 * the same bits as lib/echo_bits.ts's `echoBits`, which defines them and which
 * the tests compare this with bit for bit, four Philox blocks per SIMD step.
 * `EchoData` draws its series here.
 */
import type { BitRow } from "../../echo_bits.ts";
import { DATA_WASM } from "./data_wasm.ts";

const wasm = new WebAssembly.Instance(
  new WebAssembly.Module(Uint8Array.from(atob(DATA_WASM), (c) => c.charCodeAt(0))),
  { env: { abort: () => {} } },
).exports as {
  memory: WebAssembly.Memory;
  echoBits: (seed: number, stream: number, draw: number, row: number, length: number, out: number) => void;
};

/** The module's memory from this offset on is the row buffer (the module itself uses none). */
const AT = 1024;

/** Bytes the wasm writes for a row of `length` bits: whole groups of four 128-bit blocks. */
const written = (length: number) => Math.ceil(length / 512) * 512;

/** As lib/echo_bits.ts `echoBits`: bits 0..length-1 of a row, one 0 or 1 per byte, to `out` from `at`. */
export function echoBitsWasm(from: BitRow, length: number, out: Uint8Array, at = 0): void {
  const need = AT + written(length);
  const have = wasm.memory.buffer.byteLength;
  if (need > have) wasm.memory.grow(Math.ceil((need - have) / 65536));
  wasm.echoBits(from.seed >>> 0, from.stream >>> 0, from.draw >>> 0, from.row >>> 0, length, AT);
  out.set(new Uint8Array(wasm.memory.buffer, AT, length), at);
}
