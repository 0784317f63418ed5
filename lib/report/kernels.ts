/**
 * The op-level against the fused kernels in the findings: the same RNN H60
 * configuration run with the op-level kernels (the manifest's
 * kernelComparison), and which seeds learnt there and in exp:memory's fused
 * run. Not for speed (bench.ts) or for exp:memory's own fields (memory.ts).
 */
import type { Row } from "../summary.ts";
import { type Fields, list } from "./format.ts";
import { finalAccuracies, memoryConfig, type MemoryReport, seedsThatLearnt } from "./memory.ts";

/**
 * The template fields `kernels.*` from exp:memory (its RNN H60 and deep RNN
 * runs) and the op-level run's rows (`opRows`), `where` naming the manifest
 * in a refusal.
 */
export function kernelFields(memory: MemoryReport, opRows: Row[], where: string): Fields {
  const base = memoryConfig(memory.summary, "rnn-h60", where);
  const fusedWins = seedsThatLearnt(finalAccuracies(memory.rows.filter((r) => r.experiment === "rnn-h60")));
  const opWins = seedsThatLearnt(finalAccuracies(opRows));
  const opSeeds = opRows.filter((r) => r.phase === "test").map((r) => Number(r.seed));
  return {
    "kernels.op": `${opRows[0].kernel}-level`,
    "kernels.opSeeds": `${Math.min(...opSeeds)}-${Math.max(...opSeeds)}`,
    "kernels.opWinners": list(opWins),
    "kernels.opRate": `${opWins.length}/${opSeeds.length}`,
    "kernels.fused": base.kernel,
    "kernels.fusedWinners": list(fusedWins),
    "kernels.fusedWinnersInRange": list(fusedWins.filter((s) => opSeeds.includes(s))),
    "kernels.fusedRate": `${fusedWins.length}/${base.seeds}`,
    "kernels.deepRate": memory.fields["rnn-6x60.success"],
  };
}
