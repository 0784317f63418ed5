/**
 * Brings CSVs written under an older schema to the current one (the
 * migrations are lib/migrations.ts). Files already current are left alone;
 * running it twice changes nothing.
 *
 *   deno task migrate [DIR]    (default results/)
 */
import { migrateText } from "../lib/migrations.ts";
import { writeFileAtomic } from "../lib/durable.ts";
import { type Command, firstLine, isDirectory, parseCommandOrExit, parseOrExit, UsageError } from "../lib/cli.ts";
import { readBoundedText } from "../lib/readback.ts";

/** migrate's command line: one folder, no flags. */
const MIGRATE = {
  task: "migrate",
  about: "Rewrites in place the CSVs under DIR written under an older schema; current files are left alone.",
  args: [["[DIR]", "the folder whose CSVs are migrated, subfolders included (default results)"]],
  flags: [],
} as const satisfies Command;

function* csvFiles(dir: string): Generator<string> {
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* csvFiles(path);
    else if (e.isFile && e.name.endsWith(".csv")) yield path;
  }
}

if (import.meta.main) {
  const dir = parseCommandOrExit(MIGRATE, Deno.args, ({ positionals }) => {
    if (positionals.length > 1) throw new UsageError(`migrate takes one directory, got ${positionals.length}`);
    const dir = (positionals[0] ?? "results").replace(/\/+$/, "");
    if (!isDirectory(dir)) throw new UsageError(`DIR ${dir} is not a directory`);
    return dir;
  });
  // Every file is read and migrated in memory first: a bad one is named and nothing is written.
  const todo = parseOrExit(() =>
    [...csvFiles(dir)].flatMap((path) => {
      let m;
      try {
        m = migrateText(readBoundedText(path, "CSV"));
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`${path}: ${firstLine(err)}`);
      }
      return m ? [{ path, ...m }] : [];
    })
  );
  for (const { path, text, migration } of todo) {
    writeFileAtomic(path, text);
    console.log(`${path}: ${migration}`);
  }
  console.log(`${todo.length} file(s) migrated under ${dir}/`);
}
