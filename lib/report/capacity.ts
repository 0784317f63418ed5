/**
 * exp:capacity in the findings: the largest echo step each cell and width
 * learns (by at least half of the seeds), its heatmap, section and the
 * template fields `capacity.*`. Not for checking the merged CSV against its
 * shards (inputs.ts) or for computing capacities (lib/capacity.ts).
 */
import { capacities } from "../capacity.ts";
import { capacityHeatmapSpec } from "../charts.ts";
import type { Chart } from "./charts.ts";
import { chartLine, f1, type Fields, list } from "./format.ts";
import type { CapacityRuns } from "./inputs.ts";

/** exp:capacity, summarised. */
export interface CapacityReport {
  fields: Fields;
  charts: Chart[];
  /** Its section of results/README.md. */
  markdown: string;
}

/**
 * exp:capacity from the merged CSV's rows and each shard's (for the minutes
 * each shard trained): the grid, each cell's capacity per width, whether
 * every row learns from echo 1 up, the IRNN at echo 1, and how the gated
 * cells compare with the RNN.
 */
export function capacityReport({ rows, shards }: CapacityRuns): CapacityReport {
  const caps = capacities(rows);
  const hiddens = [...new Set(rows.map((r) => Number(r.hidden)))].sort((a, b) => a - b);
  const cells = [...new Set(rows.map((r) => r.cell))];
  const maxEcho = Math.max(...rows.map((r) => Number(r.echo_step)));
  const r0 = rows[0];
  const grid = `cells ${cells.join(", ")} x hidden ${
    hiddens.join(", ")
  } x echo 1..${maxEcho}, ${r0.seeds} seeds, ${r0.epochs} epochs, T ${r0.bptt}`;
  const chart: Chart = {
    name: "capacity",
    spec: capacityHeatmapSpec(
      caps,
      `Largest echo step learnt by at least half of ${r0.seeds} seeds (${r0.epochs} epochs, T ${r0.bptt}, echo 1..${maxEcho})`,
    ),
  };
  const cap = (cell: string, h: number) => caps.find((c) => c.cell === cell && c.hidden === h)?.capacity ?? 0;
  const fields: Fields = {};
  fields["capacity.grid"] = grid;
  fields["capacity.hiddens"] = hiddens.join(" / ");
  fields["capacity.epochs"] = r0.epochs;
  fields["capacity.shards"] = shards.length;
  const shardMinutes = shards.map((shard) => shard.reduce((a, r) => a + Number(r.seconds), 0) / 60);
  fields["capacity.shardMinutes"] = list(shardMinutes.map((m) => `${m.toFixed(0)} min`));
  fields["capacity.coreMinutes"] = shardMinutes.reduce((a, b) => a + b, 0).toFixed(0);
  for (const c of cells) fields[`capacity.${c}`] = hiddens.map((h) => cap(c, h)).join(" / ");
  // Every row a run from echo 1 up?
  const contiguous = cells.every((c) =>
    hiddens.every((h) => {
      const k = cap(c, h);
      return rows.filter((r) => r.cell === c && Number(r.hidden) === h && Number(r.echo_step) <= k).every((r) =>
        2 * Number(r.successes) >= Number(r.seeds)
      );
    })
  );
  fields["capacity.contiguous"] = contiguous
    ? `In every row the steps learnt form one run from echo 1 up, so "largest" is also "every step up to".`
    : `Some rows learn a step above one they miss, so "largest" is not "every step up to".`;
  const irnn1 = rows.filter((r) => r.cell === "irnn" && r.echo_step === "1");
  fields["capacity.irnnEcho1"] = `at echo 1, at most ${
    Math.max(...irnn1.map((r) => Number(r.successes)))
  } of ${r0.seeds} seeds in ${r0.epochs} epochs, median test accuracy ${
    f1(Math.min(...irnn1.map((r) => Number(r.test_acc_median))))
  }-${f1(Math.max(...irnn1.map((r) => Number(r.test_acc_median))))}%`;
  const compare = (cell: string) => {
    const d = hiddens.map((h) => cap(cell, h) - cap("rnn", h));
    const name = cell.toUpperCase();
    if (d.every((x) => x >= 0)) {
      return `${name} remembers at least as far as the RNN at every width (further at H ${
        list(hiddens.filter((_, i) => d[i] > 0))
      })`;
    }
    if (d.every((x) => x <= 0)) return `${name} remembers no further than the RNN at any width`;
    return `${name} remembers further than the RNN at H ${list(hiddens.filter((_, i) => d[i] > 0))} and less far at H ${
      list(hiddens.filter((_, i) => d[i] < 0))
    }`;
  };
  fields["capacity.gated"] = `${compare("lstm")}; ${compare("gru")}`;
  const markdown =
    `## Memory capacity (\`deno task exp:capacity\`, merged with \`deno task merge\`)\n\nGrid: ${grid}.\n\n${
      chartLine("capacity", "capacity heatmap")
    }\n`;
  return { fields, charts: [chart], markdown };
}
